from hashgate_tools.demo.main import main

main()
