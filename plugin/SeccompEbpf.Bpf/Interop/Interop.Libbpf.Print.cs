using System.Runtime.InteropServices;

namespace SeccompEbpf.Bpf.Interop;

internal static partial class Interop
{
    internal static unsafe partial class Libbpf
    {
        /// <summary>libbpf_print_fn_t: int (*)(enum libbpf_print_level, const char *format, va_list).</summary>
        [LibraryImport(Libraries.Libbpf, EntryPoint = "libbpf_set_print")]
        internal static partial nint SetPrint(delegate* unmanaged<int, byte*, nint, int> callback);

        [LibraryImport(Libraries.Libbpf, EntryPoint = "libbpf_strerror")]
        internal static partial int StrError(int error, byte* buffer, nuint size);
    }
}
