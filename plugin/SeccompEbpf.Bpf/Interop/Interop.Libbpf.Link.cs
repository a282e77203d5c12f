using System.Runtime.InteropServices;

namespace SeccompEbpf.Bpf.Interop;

internal static partial class Interop
{
    internal static unsafe partial class Libbpf
    {
        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_program__attach", SetLastError = true)]
        internal static partial nint ProgramAttach(nint prog);

        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_program__attach_cgroup", SetLastError = true)]
        internal static partial nint ProgramAttachCgroup(nint prog, int cgroupFd);

        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_link__open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
        internal static partial nint LinkOpen(string path);

        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_link__pin", StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int LinkPin(nint link, string path);

        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_link__unpin")]
        internal static partial int LinkUnpin(nint link);

        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_link__destroy")]
        internal static partial int LinkDestroy(nint link);
    }
}
