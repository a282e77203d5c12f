using System.Runtime.InteropServices;

namespace SeccompEbpf.Bpf.Interop;

/// <summary>A libbpf or bpf(2) call failed; the message names the call, the object and the errno.</summary>
public sealed class BpfException : Exception
{
    /// <summary>Creates the exception for a failed call.</summary>
    public BpfException(string operation, int errno, string? detail = null)
        : base(Format(operation, errno, detail))
    {
        Operation = operation;
        Errno = errno;
    }

    /// <summary>The failed call and what it acted on, e.g. "bpf_map_update_elem(bindings)".</summary>
    public string Operation { get; }

    /// <summary>The positive errno the kernel or libbpf reported.</summary>
    public int Errno { get; }

    private static string Format(string operation, int errno, string? detail)
        => $"{operation} failed: {Errors.Name(errno)} ({errno}: {Errors.Describe(errno)})" + (detail is null ? "" : $"; {detail}");
}

internal static class Errors
{
    /// <summary>Negative-errno convention of libbpf's int-returning functions.</summary>
    internal static int Check(int result, string operation, string? detail = null)
    {
        if (result < 0)
            throw new BpfException(operation, -result, detail);
        return result;
    }

    /// <summary>bpf(2) wrappers: -1 plus errno (captured by SetLastError right after the call).</summary>
    internal static int CheckErrno(int result, string operation)
    {
        if (result < 0)
            throw new BpfException(operation, LastErrno(result));
        return result;
    }

    /// <summary>Pointer-returning libbpf functions: NULL plus errno.</summary>
    internal static nint CheckPointer(nint result, string operation, string? detail = null)
    {
        if (result == 0)
            throw new BpfException(operation, LastErrno(-1), detail);
        return result;
    }

    /// <summary>errno after a call with SetLastError, falling back to the negative return value.</summary>
    internal static int LastErrno(int result)
    {
        int errno = Marshal.GetLastPInvokeError();
        return errno != 0 ? errno : result < -1 ? -result : 5 /* EIO: the call gave no reason */;
    }

    internal static string Name(int errno) => errno switch
    {
        1 => "EPERM", 2 => "ENOENT", 3 => "ESRCH", 4 => "EINTR", 5 => "EIO", 7 => "E2BIG", 9 => "EBADF",
        11 => "EAGAIN", 12 => "ENOMEM", 13 => "EACCES", 14 => "EFAULT", 16 => "EBUSY", 17 => "EEXIST",
        19 => "ENODEV", 22 => "EINVAL", 28 => "ENOSPC", 38 => "ENOSYS", 95 => "EOPNOTSUPP", 524 => "ENOTSUPP",
        _ => $"errno {errno}",
    };

    internal static unsafe string Describe(int errno)
    {
        byte* buffer = stackalloc byte[256];
        if (Interop.Libbpf.StrError(errno, buffer, 256) < 0 && buffer[0] == 0)
            return "unknown error";
        return Marshal.PtrToStringUTF8((nint)buffer) ?? "unknown error";
    }
}
