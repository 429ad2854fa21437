"""One line for a file-system error (shared by the tools and the benchmark
layer; imports nothing heavy)."""
import errno

#: ``errno`` values of a write that failed because of the file system.
WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES,
                errno.EPERM, errno.ENOTDIR, errno.EEXIST)


def os_error_line(e: OSError) -> str:
    """One line for a file-system error, naming the file."""
    where = e.filename or 'a file'
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return f'disk full while writing {where} ({e.strerror})'
    if e.errno == errno.EROFS:
        return f'cannot write {where}: read-only file system'
    return f'{where}: {e.strerror or e}'
