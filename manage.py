#!/usr/bin/env python
import os
import sys

#: Django's own commands that write audited rows (users): run as a named system actor, so their
#: changes are recorded, never refused for want of an actor or written as "anonymous".
DJANGO_WRITING_COMMANDS = {"createsuperuser", "changepassword"}


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.management import execute_from_command_line

    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command not in DJANGO_WRITING_COMMANDS:
        execute_from_command_line(sys.argv)
        return
    import getpass

    import django

    django.setup()
    from permissions.context import system_actor

    with system_actor(f"manage.py {command}", reason=f"manage.py {command}, run by {getpass.getuser()}"):
        execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
