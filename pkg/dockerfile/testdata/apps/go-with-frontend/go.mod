module example.com/hello

go 1.23.4

toolchain go1.24.2
