/* Lab only: the lab machine lacks CAP_SYS_RESOURCEXX
 * raise RLIMIT_MEMLOCK and RLIMIT_RTPRIO fail with EPERM and the daemon exits. This shim,
 * preloaded into sanlock.service by a drop-in that only the lab writes, turns
 * those two failures into success. Real hypervisors never get it. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <sys/resource.h>

int setrlimit(__rlimit_resource_t resource, const struct rlimit *limit)
{
    static int (*real_setrlimit)(__rlimit_resource_t, const struct rlimit *);
    if (!real_setrlimit)
        real_setrlimit = dlsym(RTLD_NEXT, "setrlimit");
    int rc = real_setrlimit(resource, limit);
    if (rc == -1 && errno == EPERM && (resource == RLIMIT_MEMLOCK || resource == RLIMIT_RTPRIO)) {
        errno = 0;
        return 0;
    }
    return rc;
}
