using System.Runtime.InteropServices;

namespace SeccompEbpf.Bpf.Interop;

internal static partial class Interop
{
    internal static unsafe partial class Libbpf
    {
        // Low-level syscall wrappers: they return -1 and set errno (libbpf 1.x returns -errno too).
        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_map_update_elem", SetLastError = true)]
        internal static partial int MapUpdateElem(int fd, void* key, void* value, ulong flags);

        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_map_lookup_elem", SetLastError = true)]
        internal static partial int MapLookupElem(int fd, void* key, void* value);

        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_map_delete_elem", SetLastError = true)]
        internal static partial int MapDeleteElem(int fd, void* key);

        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_map_get_next_key", SetLastError = true)]
        internal static partial int MapGetNextKey(int fd, void* key, void* nextKey);

        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_obj_pin", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
        internal static partial int ObjPin(int fd, string path);

        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_obj_get", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
        internal static partial int ObjGet(string path);

        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_obj_get_info_by_fd", SetLastError = true)]
        internal static partial int ObjGetInfoByFd(int fd, void* info, uint* infoLength);
    }
}
