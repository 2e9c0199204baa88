#include <sqlite3.h>

/// Turns off SQLite's memory statistics (a mutex around every allocation it makes); must run
/// before the library initialises. Returns SQLITE_MISUSE when it already has.
static inline int deltabridge_sqlite3_disable_memstatus(void) {
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}
