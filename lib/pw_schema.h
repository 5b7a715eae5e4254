/* pw_schema.h -- the SQL migrations of schema/NNN_name.sql, embedded at build time.
 *
 * The Makefile turns each schema/NNN_name.sql into a C string so the binaries
 * carry their schema; the .sql files remain the source of truth.  pw_db
 * applies the ones a database has not seen, in order, inside a transaction. */
#ifndef PW_SCHEMA_H
#define PW_SCHEMA_H

typedef struct pw_schema_migration {
    int version;      /* NNN from the file name; PRAGMA user_version after applying */
    const char *name; /* file stem, e.g. "001_init" */
    const char *sql;  /* file contents */
} pw_schema_migration;

extern const pw_schema_migration pw_schema_migrations[]; /* ascending version */
extern const unsigned pw_schema_nmigrations;

#endif
