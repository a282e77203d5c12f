using System.Runtime.InteropServices;

namespace SeccompEbpf.Bpf.Interop;

internal static partial class Interop
{
    internal static unsafe partial class LibC
    {
        [LibraryImport(Libraries.LibC, EntryPoint = "close", SetLastError = true)]
        internal static partial int Close(int fd);

        [LibraryImport(Libraries.LibC, EntryPoint = "mount", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
        internal static partial int Mount(string source, string target, string fileSystemType, ulong flags, nint data);

        /// <summary>Formats libbpf's log lines into a malloc'd string of any length (a verifier log can be long);
        /// on x86_64 and arm64 a va_list argument is passed as a pointer.</summary>
        [LibraryImport(Libraries.LibC, EntryPoint = "vasprintf")]
        internal static partial int VasPrintf(byte** result, byte* format, nint arguments);

        [LibraryImport(Libraries.LibC, EntryPoint = "free")]
        internal static partial void Free(void* pointer);

        [LibraryImport(Libraries.LibC, EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
        private static partial int Statx(int directoryFd, string path, int flags, uint mask, byte* buffer);

        /// <summary>The owner's uid of PATH (statx: struct statx is 256 bytes, stx_uid at offset 20), or -1 when it cannot be read.</summary>
        internal static long OwnerOf(string path)
        {
            const int AtFdCwd = -100;
            const uint StatxUid = 0x8;
            byte* buffer = stackalloc byte[256];
            return Statx(AtFdCwd, path, 0, StatxUid, buffer) == 0 ? *(uint*)(buffer + 20) : -1;
        }

        [LibraryImport(Libraries.LibC, EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
        internal static partial int Open(string path, int flags);

        [LibraryImport(Libraries.LibC, EntryPoint = "open_by_handle_at", SetLastError = true)]
        internal static partial int OpenByHandleAt(int mountFd, void* handle, int flags);

        [LibraryImport(Libraries.LibC, EntryPoint = "readlink", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
        internal static partial nint ReadLink(string path, byte* buffer, nuint size);

        internal const int O_RDONLY = 0;
        internal const int O_DIRECTORY = 0x10000;
        internal const int O_CLOEXEC = 0x80000;
        internal const int O_PATH = 0x200000;
    }
}
