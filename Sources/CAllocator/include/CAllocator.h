#ifndef DELTABRIDGE_CALLOCATOR_H
#define DELTABRIDGE_CALLOCATOR_H

#include <stddef.h>

/// Writes jemalloc's version into `buffer` and returns 1 when jemalloc serves this process's
/// malloc; returns 0 otherwise.
int deltabridge_jemalloc_version(char *buffer, size_t size);

/// The number of arenas jemalloc runs with (its `opt.narenas`), or 0 without jemalloc.
unsigned deltabridge_jemalloc_arenas(void);

/// 1 when jemalloc's background thread returns freed pages to the system, else 0.
int deltabridge_jemalloc_background_thread(void);

#endif
