# compose-backup recipes (https://just.systems).
#
# To use them from the app's own justfile, paste this file's contents into it and point
# `compose_backup` at this toolkit's folder, relative to that justfile, e.g.:
#     compose_backup := justfile_directory() / "compose-backup"
# Every recipe runs `npx zx scripts/<operation>.ts` from that folder, so it reads the
# backup.config.yaml there. Extra flags pass through: `just list-backups --json`,
# `just restore-db backup_2024_01_15T14_30_00.sql.zst --yes`.
# The production-* recipes use the `production` environment of that config, whose `ssh`
# section names the server (user@host from $SSH_..._USER_AND_IP): they run on the server.

compose_backup := justfile_directory()

# Back up the local database
backup-db *FLAGS:
    @cd {{ quote(compose_backup) }} && npx zx scripts/backup-db.ts {{ FLAGS }}

# Back up the local media folder
backup-media *FLAGS:
    @cd {{ quote(compose_backup) }} && npx zx scripts/backup-media.ts {{ FLAGS }}

# Back up the local database and media as one set
backup-full *FLAGS:
    @cd {{ quote(compose_backup) }} && npx zx scripts/backup-full.ts {{ FLAGS }}

# List local backups, newest first
list-backups *FLAGS:
    @cd {{ quote(compose_backup) }} && npx zx scripts/list-backups.ts {{ FLAGS }}

# Restore the local database from a backup (asks first)
restore-db FILE *FLAGS:
    @cd {{ quote(compose_backup) }} && npx zx scripts/restore-db.ts {{ quote(FILE) }} {{ FLAGS }}

# Restore the local media folder from a backup (asks first)
restore-media FILE *FLAGS:
    @cd {{ quote(compose_backup) }} && npx zx scripts/restore-media.ts {{ quote(FILE) }} {{ FLAGS }}

# Back up the production database, on the server
production-backup-db *FLAGS:
    @cd {{ quote(compose_backup) }} && npx zx scripts/backup-db.ts --env production {{ FLAGS }}

# Back up the production media folder, on the server
production-backup-media *FLAGS:
    @cd {{ quote(compose_backup) }} && npx zx scripts/backup-media.ts --env production {{ FLAGS }}

# Back up production's database and media as one set, on the server
production-backup-full *FLAGS:
    @cd {{ quote(compose_backup) }} && npx zx scripts/backup-full.ts --env production {{ FLAGS }}

# List the backups on the server
production-list-backups *FLAGS:
    @cd {{ quote(compose_backup) }} && npx zx scripts/list-backups.ts --env production {{ FLAGS }}

# Restore the production database on the server (asks here first: type production)
production-restore-db FILE *FLAGS:
    @cd {{ quote(compose_backup) }} && npx zx scripts/restore-db.ts --env production {{ quote(FILE) }} {{ FLAGS }}

# Restore the production media folder on the server (asks here first: type production)
production-restore-media FILE *FLAGS:
    @cd {{ quote(compose_backup) }} && npx zx scripts/restore-media.ts --env production {{ quote(FILE) }} {{ FLAGS }}

# Copy a backup from the server here, as production_<name> (KIND: postgres or media)
production-download-backup KIND FILE *FLAGS:
    @cd {{ quote(compose_backup) }} && npx zx scripts/download-backup.ts --env production {{ quote(KIND) }} {{ quote(FILE) }} {{ FLAGS }}
