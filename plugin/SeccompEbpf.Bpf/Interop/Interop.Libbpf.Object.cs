using System.Runtime.InteropServices;

namespace SeccompEbpf.Bpf.Interop;

internal static partial class Interop
{
    internal static unsafe partial class Libbpf
    {
        /// <summary>struct bpf_object_open_opts (libbpf 1.x); only sz and object_name are set.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct BpfObjectOpenOpts
        {
            public nuint Size;
            public byte* ObjectName;
            public byte RelaxedMaps;
            // the rest of the options are left zero; libbpf reads only Size bytes
            public fixed byte Reserved[120];
        }

        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_object__open_mem", SetLastError = true)]
        internal static partial nint ObjectOpenMem(void* buffer, nuint size, BpfObjectOpenOpts* opts);

        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_object__load")]
        internal static partial int ObjectLoad(nint obj);

        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_object__close")]
        internal static partial void ObjectClose(nint obj);

        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_object__find_map_by_name", StringMarshalling = StringMarshalling.Utf8)]
        internal static partial nint ObjectFindMapByName(nint obj, string name);

        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_object__find_program_by_name", StringMarshalling = StringMarshalling.Utf8)]
        internal static partial nint ObjectFindProgramByName(nint obj, string name);

        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_object__next_program")]
        internal static partial nint ObjectNextProgram(nint obj, nint previous);

        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_object__next_map")]
        internal static partial nint ObjectNextMap(nint obj, nint previous);

        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_program__name")]
        internal static partial byte* ProgramName(nint prog);

        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_program__section_name")]
        internal static partial byte* ProgramSectionName(nint prog);

        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_program__set_autoload")]
        internal static partial int ProgramSetAutoload(nint prog, [MarshalAs(UnmanagedType.U1)] bool autoload);

        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_program__fd")]
        internal static partial int ProgramFd(nint prog);

        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_map__name")]
        internal static partial byte* MapName(nint map);

        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_map__fd")]
        internal static partial int MapFd(nint map);

        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_map__type")]
        internal static partial uint MapType(nint map);

        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_map__key_size")]
        internal static partial uint MapKeySize(nint map);

        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_map__value_size")]
        internal static partial uint MapValueSize(nint map);

        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_map__reuse_fd")]
        internal static partial int MapReuseFd(nint map, int fd);

        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_map__set_max_entries")]
        internal static partial int MapSetMaxEntries(nint map, uint maxEntries);

        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_map__max_entries")]
        internal static partial uint MapMaxEntries(nint map);

        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_map__initial_value")]
        internal static partial void* MapInitialValue(nint map, nuint* size);

        [LibraryImport(Libraries.Libbpf, EntryPoint = "libbpf_probe_bpf_map_type")]
        internal static partial int ProbeMapType(uint mapType, void* opts);
    }
}

internal static partial class Interop
{
    internal static partial class Libbpf
    {
        [LibraryImport(Libraries.Libbpf, EntryPoint = "libbpf_num_possible_cpus")]
        internal static partial int NumPossibleCpus();
    }
}
