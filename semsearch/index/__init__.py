"""The index store on disk and the builds that write it."""
