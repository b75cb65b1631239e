from bulk_tasks.cli import main

main()
