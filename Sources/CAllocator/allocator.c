// The process's allocator: jemalloc (Debian: libjemalloc-dev), linked into every program that
// uses the engine, so that it replaces glibc's malloc. The engine's stages run on several threads
// that free what others allocated: glibc's arenas then contend on their locks and coalesce free
// lists, which cost a fifth of the bridge's CPU in a PostgreSQL snapshot.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdbool.h>
#include <jemalloc/jemalloc.h>
#include <string.h>
#include "CAllocator.h"

// Read by jemalloc at start-up (the MALLOC_CONF environment variable still overrides it).
// One arena: the stages hand memory to each other, and thread caches keep contention low.
// Freed pages go back to the system after 200 ms, so peak RSS stays near the live data; a
// background thread returns them, so the engine's threads do not stop in `free` to do it (3–10 %
// shorter SQLite→SQLite phases in back-to-back runs, peak RSS within 4 MiB).
const char *malloc_conf = "narenas:1,dirty_decay_ms:200,muzzy_decay_ms:0,background_thread:true";

int deltabridge_jemalloc_version(char *buffer, size_t size) {
    const char *version = NULL;
    size_t length = sizeof(version);
    if (mallctl("version", &version, &length, NULL, 0) != 0 || version == NULL) return 0;
    // In use only if the process-wide `malloc` is jemalloc's own.
    void *library = dlopen("libjemalloc.so.2", RTLD_LAZY | RTLD_NOLOAD);
    if (library == NULL) return 0;
    int inUse = dlsym(RTLD_DEFAULT, "malloc") == dlsym(library, "malloc");
    dlclose(library);
    if (!inUse) return 0;
    if (size > 0) {
        strncpy(buffer, version, size - 1);
        buffer[size - 1] = 0;
    }
    return 1;
}

int deltabridge_jemalloc_background_thread(void) {
    bool enabled = false;
    size_t length = sizeof(enabled);
    if (mallctl("background_thread", &enabled, &length, NULL, 0) != 0) return 0;
    return enabled ? 1 : 0;
}

unsigned deltabridge_jemalloc_arenas(void) {
    unsigned arenas = 0;
    size_t length = sizeof(arenas);
    if (mallctl("opt.narenas", &arenas, &length, NULL, 0) != 0) return 0;
    return arenas;
}
