from hello.server import main

main()
