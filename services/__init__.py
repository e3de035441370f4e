"""Services: what each command does, shared by the cogs and the command line. No discord imports."""
