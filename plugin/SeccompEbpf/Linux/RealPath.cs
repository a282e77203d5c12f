using System.Runtime.InteropServices;

namespace SeccompEbpf.Linux;

/// <summary>realpath(3): every symlink and ".." resolved, so a path can be checked against a root.</summary>
internal static partial class RealPath
{
    [LibraryImport("libc", EntryPoint = "realpath", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint NativeRealPath(string path, nint resolved);

    [LibraryImport("libc", EntryPoint = "free")]
    private static partial void Free(nint pointer);

    /// <summary>The canonical path, or null when <paramref name="path"/> does not exist.</summary>
    public static string? Of(string path)
    {
        var result = NativeRealPath(path, 0);
        if (result == 0)
            return null;
        try
        {
            return Marshal.PtrToStringUTF8(result);
        }
        finally
        {
            Free(result);
        }
    }
}
