from bulk_tasks.cli.launch import main

if __name__ == "__main__":
    main()
