"""The directory of communities, categories and people: loading a file into the database, and the
identities it names."""
