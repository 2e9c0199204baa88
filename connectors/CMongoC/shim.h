#include <mongoc/mongoc.h>
#include <bson/bson.h>

/* Small non-variadic wrappers: Swift sees bson_t as an opaque pointer (it is 128-byte aligned). */

static inline uint32_t deltabridge_bson_len(const bson_t *b) { return b->len; }

static inline const char *deltabridge_error_message(const bson_error_t *e) { return e->message; }

/* Runs a command on the primary; the reply is returned as a heap copy the caller destroys. */
static inline bool deltabridge_command(mongoc_client_t *client, const char *db, const bson_t *command,
                                       bson_t **reply_out, bson_error_t *error) {
    bson_t reply;
    bool ok = mongoc_client_command_simple(client, db, command, NULL, &reply, error);
    *reply_out = bson_copy(&reply);
    bson_destroy(&reply);
    return ok;
}

/* The error document of a failed change stream (a heap copy, or NULL), and the error itself. */
static inline bool deltabridge_change_stream_error(mongoc_change_stream_t *stream, bson_error_t *error, bson_t **doc_out) {
    const bson_t *doc = NULL;
    bool failed = mongoc_change_stream_error_document(stream, error, &doc);
    *doc_out = doc ? bson_copy(doc) : NULL;
    return failed;
}
