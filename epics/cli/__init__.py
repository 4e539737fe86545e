"""Command-line tools (console scripts): caRepeater, and the caget/caput/camonitor/cainfo family.

Each tool is a module with a ``main()`` returning the exit status; only these modules write to
stdout.
"""
