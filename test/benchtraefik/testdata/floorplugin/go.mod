module example.com/floorplugin

go 1.21
