package authlayer

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/authlayer/authlayer/internal/cluster"
	"github.com/authlayer/authlayer/internal/redis"
)

// Backend validations across replicas (cluster mode, cluster.go). A valid
// answer from the backend is stored sealed under <prefix>val:<hash> for as
// long as it is cached here (cache.ttl, never past the token's exp); a
// replica that misses its own cache reads it before calling the backend,
// so N replicas make the backend calls one would. Only valid answers are
// shared: a refusal costs the backend one call per replica at most, and
// sharing it would let one replica's mistaken answer refuse everywhere.
// A logout deletes the key (clusterlogout.go) and, before that, the
// token's mark refuses it first on every replica.
//
// Locally verified tokens (jwt.mode local) are not shared: verifying one
// costs less than a round trip to Redis. In revalidate mode the backend's
// confirmations are.

// sharedIdentity is a valid answer as stored (sealed).
type sharedIdentity struct {
	User      string   `json:"u"` // the user object's JSON, base64 (the header value)
	UserID    string   `json:"i,omitempty"`
	TokenType string   `json:"t,omitempty"`
	Roles     []string `json:"r,omitempty"`
	ExpiresAt int64    `json:"e,omitempty"` // unix ms; 0: none given
	Until     int64    `json:"x"`           // unix ms: when the answer stops counting
}

// sharedValidation is another replica's valid answer about token, with
// how long it still counts; ok is false when there is none (or Redis
// cannot say). The token's logout mark is read in the same round trip
// (the published logout may not have reached this replica yet): a marked
// token is answered "logged out" (loggedOut true).
func sharedValidation(n *clusterNode, token string) (v validation, ttl time.Duration, ok, loggedOut bool) {
	if !clusterUsable(n) {
		return validation{}, 0, false, false
	}
	key := clusterKey(n, "val", token)
	outName := clusterName(n, "out", token)
	vals, err := redis.Do(n.client, clusterDeadline(), "MGET", key, redis.Key(n.client, outName))
	if err == nil && (vals.Kind != redis.KindArray || len(vals.Array) != 2) {
		err = errUnexpectedReply
	}
	if !clusterOK(n, err) {
		return validation{}, 0, false, false
	}
	if mark := vals.Array[1]; mark.Kind == redis.KindBulk {
		applyRemoteLogout(n, outName, mark.Str)
		return validation{state: stateInvalid, reason: "logged-out"}, 0, false, true
	}
	if vals.Array[0].Kind != redis.KindBulk {
		return validation{}, 0, false, false
	}
	return openSharedValidation(n, token, key, vals.Array[0].Str)
}

// openSharedValidation opens a stored answer.
func openSharedValidation(n *clusterNode, token, key, sealed string) (validation, time.Duration, bool, bool) {
	plain, err := cluster.Open(n.keys, []byte(sealed), []byte(key))
	var si sharedIdentity
	if err != nil || json.Unmarshal(plain, &si) != nil || si.User == "" {
		return validation{}, 0, false, false
	}
	ttl := time.Until(time.UnixMilli(si.Until))
	if ttl <= 0 {
		return validation{}, 0, false, false
	}
	id := &identity{userID: si.UserID, tokenType: si.TokenType, token: token, roles: si.Roles}
	if si.ExpiresAt != 0 {
		id.expiresAt = time.UnixMilli(si.ExpiresAt)
	}
	id.userValues = oneValue(si.User)
	if id.userID != "" {
		id.userIDValues = oneValue(id.userID)
	}
	if id.tokenType != "" {
		id.tokenTypeValues = oneValue(id.tokenType)
	}
	id.verifiedValues = oneValue("backend")
	return validation{state: stateValid, id: id}, ttl, true, false
}

// shareValidation stores a valid answer for ttl, best effort.
func shareValidation(n *clusterNode, token string, v validation, ttl time.Duration) {
	if v.state != stateValid || v.id == nil || len(v.id.userValues) == 0 || ttl < time.Second || !clusterUsable(n) {
		return
	}
	si := sharedIdentity{
		User: v.id.userValues[0], UserID: v.id.userID, TokenType: v.id.tokenType, Roles: v.id.roles,
		Until: time.Now().Add(ttl).UnixMilli(),
	}
	if !v.id.expiresAt.IsZero() {
		si.ExpiresAt = v.id.expiresAt.UnixMilli()
	}
	plain, _ := json.Marshal(si)
	key := clusterKey(n, "val", token)
	sealed := cluster.Seal(n.keys, plain, []byte(key))
	_, err := redis.Do(n.client, clusterDeadline(), "SET", key, string(sealed), "PX", strconv.FormatInt(ttl.Milliseconds(), 10))
	clusterOK(n, err)
}
