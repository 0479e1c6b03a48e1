module example.com/emptyplugin

go 1.21
