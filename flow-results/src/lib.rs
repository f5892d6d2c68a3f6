//! Result records of flow runs and the stores that keep them: in memory, as a directory of
//! JSON files, or in a SQLite file.
