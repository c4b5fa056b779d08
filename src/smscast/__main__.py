from smscast.cli.main import main

main()
