#include <mysql.h>
#include <mariadb_rpl.h>

/* Non-variadic wrappers: Swift cannot call C variadic functions such as mysql_optionsv. */
static inline int deltabridge_mysql_option_uint(MYSQL *mysql, enum mysql_option option, unsigned int value) {
    return mysql_optionsv(mysql, option, &value);
}
static inline int deltabridge_mysql_option_string(MYSQL *mysql, enum mysql_option option, const char *value) {
    return mysql_optionsv(mysql, option, value);
}
