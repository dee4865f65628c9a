from accord_cli.main import entry

entry()
