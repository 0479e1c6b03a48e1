package loader

import (
	"fmt"
	"reflect"
)

// CopyConfig copies src into dst field by field, matching exported struct
// fields by name, so that a configuration decoded by the interpreted plugin
// (whose types Yaegi builds at run time) can be compared with
// reflect.DeepEqual to one decoded by the compiled package. dst must be a
// non-nil pointer. Nil slices, maps and pointers stay nil. It fails if a
// field of dst has no counterpart in src, or if kinds differ.
func CopyConfig(dst, src interface{}) error {
	dv := reflect.ValueOf(dst)
	if dv.Kind() != reflect.Pointer || dv.IsNil() {
		return fmt.Errorf("loader: CopyConfig needs a non-nil pointer, got %T", dst)
	}
	return copyValue(dv.Elem(), reflect.ValueOf(src), "config")
}

func copyValue(dst, src reflect.Value, where string) error {
	for src.Kind() == reflect.Interface && !src.IsNil() {
		src = src.Elem()
	}
	if !src.IsValid() {
		dst.Set(reflect.Zero(dst.Type()))
		return nil
	}
	// A pointer on the source side only (or both sides) is followed.
	if src.Kind() == reflect.Pointer && dst.Kind() != reflect.Pointer {
		if src.IsNil() {
			dst.Set(reflect.Zero(dst.Type()))
			return nil
		}
		return copyValue(dst, src.Elem(), where)
	}
	// An interface (the values of a remain field's map) takes the value
	// as delivered.
	if dst.Kind() == reflect.Interface {
		if !src.Type().AssignableTo(dst.Type()) {
			return fmt.Errorf("loader: %s: %s cannot be copied into %s", where, src.Type(), dst.Type())
		}
		dst.Set(src)
		return nil
	}
	if dst.Kind() != src.Kind() {
		return fmt.Errorf("loader: %s: kind %s cannot be copied into %s", where, src.Kind(), dst.Kind())
	}

	switch dst.Kind() {
	case reflect.Pointer:
		if src.IsNil() {
			dst.Set(reflect.Zero(dst.Type()))
			return nil
		}
		n := reflect.New(dst.Type().Elem())
		if err := copyValue(n.Elem(), src.Elem(), where); err != nil {
			return err
		}
		dst.Set(n)
	case reflect.Struct:
		for i := 0; i < dst.NumField(); i++ {
			f := dst.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			sf := src.FieldByName(f.Name)
			if !sf.IsValid() {
				return fmt.Errorf("loader: %s.%s: no such field in %s", where, f.Name, src.Type())
			}
			if err := copyValue(dst.Field(i), sf, where+"."+f.Name); err != nil {
				return err
			}
		}
	case reflect.Slice:
		if src.IsNil() {
			dst.Set(reflect.Zero(dst.Type()))
			return nil
		}
		s := reflect.MakeSlice(dst.Type(), src.Len(), src.Len())
		for i := 0; i < src.Len(); i++ {
			if err := copyValue(s.Index(i), src.Index(i), fmt.Sprintf("%s[%d]", where, i)); err != nil {
				return err
			}
		}
		dst.Set(s)
	case reflect.Array:
		if dst.Len() != src.Len() {
			return fmt.Errorf("loader: %s: array lengths differ", where)
		}
		for i := 0; i < src.Len(); i++ {
			if err := copyValue(dst.Index(i), src.Index(i), fmt.Sprintf("%s[%d]", where, i)); err != nil {
				return err
			}
		}
	case reflect.Map:
		if src.IsNil() {
			dst.Set(reflect.Zero(dst.Type()))
			return nil
		}
		m := reflect.MakeMapWithSize(dst.Type(), src.Len())
		iter := src.MapRange()
		for iter.Next() {
			k := reflect.New(dst.Type().Key()).Elem()
			if err := copyValue(k, iter.Key(), where+"[key]"); err != nil {
				return err
			}
			v := reflect.New(dst.Type().Elem()).Elem()
			if err := copyValue(v, iter.Value(), fmt.Sprintf("%s[%v]", where, iter.Key())); err != nil {
				return err
			}
			m.SetMapIndex(k, v)
		}
		dst.Set(m)
	case reflect.Bool:
		dst.SetBool(src.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		dst.SetInt(src.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		dst.SetUint(src.Uint())
	case reflect.Float32, reflect.Float64:
		dst.SetFloat(src.Float())
	case reflect.Complex64, reflect.Complex128:
		dst.SetComplex(src.Complex())
	case reflect.String:
		dst.SetString(src.String())
	default:
		return fmt.Errorf("loader: %s: unsupported kind %s", where, dst.Kind())
	}
	return nil
}
