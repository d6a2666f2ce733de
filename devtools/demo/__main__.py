from devtools.demo.main import main

main()
