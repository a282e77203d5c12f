using System.Runtime.InteropServices;

namespace SeccompEbpf.Bpf.Interop;

/// <summary>The embedded seccomp.bpf.o opened with libbpf: programs to choose, maps to size or reuse, then load.</summary>
internal sealed unsafe class BpfObject : IDisposable
{
    internal const string ResourceName = "seccomp.bpf.o";
    private readonly SafeBpfObjectHandle _handle;
    private void* _elf; // libbpf reads the ELF image until close
    private readonly Dictionary<string, nint> _programs = [];
    private readonly Dictionary<string, nint> _maps = [];

    private BpfObject(SafeBpfObjectHandle handle, void* elf)
    {
        _handle = handle;
        _elf = elf;
        for (nint prog = Interop.Libbpf.ObjectNextProgram(Handle, 0); prog != 0; prog = Interop.Libbpf.ObjectNextProgram(Handle, prog))
            _programs[Marshal.PtrToStringUTF8((nint)Interop.Libbpf.ProgramName(prog))!] = prog;
        for (nint map = Interop.Libbpf.ObjectNextMap(Handle, 0); map != 0; map = Interop.Libbpf.ObjectNextMap(Handle, map))
            _maps[Marshal.PtrToStringUTF8((nint)Interop.Libbpf.MapName(map))!] = map;
    }

    private nint Handle => _handle.DangerousGetHandle();

    /// <summary>The object file embedded in this assembly.</summary>
    internal static byte[] EmbeddedImage()
    {
        using var stream = typeof(BpfObject).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException($"embedded resource {ResourceName} is missing: the build did not run `make -C bpf`");
        var image = new byte[stream.Length];
        stream.ReadExactly(image);
        return image;
    }

    internal static BpfObject Open(byte[] image, string objectName = "seccomp")
    {
        void* elf = NativeMemory.Alloc((nuint)image.Length);
        image.CopyTo(new Span<byte>(elf, image.Length));
        byte[] name = [.. System.Text.Encoding.UTF8.GetBytes(objectName), 0];
        fixed (byte* namePtr = name)
        {
            var opts = new Interop.Libbpf.BpfObjectOpenOpts { Size = 24, ObjectName = namePtr };
            nint obj = Interop.Libbpf.ObjectOpenMem(elf, (nuint)image.Length, &opts);
            if (obj == 0)
            {
                int errno = Errors.LastErrno(-1);
                NativeMemory.Free(elf);
                throw new BpfException($"bpf_object__open_mem({objectName})", errno);
            }
            return new BpfObject(new SafeBpfObjectHandle(obj), elf);
        }
    }

    internal IReadOnlyCollection<string> ProgramNames => _programs.Keys;
    internal IReadOnlyCollection<string> MapNames => _maps.Keys;

    internal string SectionOf(string program)
        => Marshal.PtrToStringUTF8((nint)Interop.Libbpf.ProgramSectionName(Program(program)))!;

    private nint Program(string name)
        => _programs.TryGetValue(name, out var prog) ? prog : throw new InvalidOperationException($"program {name} is not in {ResourceName}");

    private nint MapPointer(string name)
        => _maps.TryGetValue(name, out var map) ? map : throw new InvalidOperationException($"map {name} is not in {ResourceName}");

    internal void SetAutoload(string program, bool autoload)
        => Errors.Check(Interop.Libbpf.ProgramSetAutoload(Program(program), autoload), $"bpf_program__set_autoload({program})");

    internal void SetMaxEntries(string map, uint entries)
        => Errors.Check(Interop.Libbpf.MapSetMaxEntries(MapPointer(map), entries), $"bpf_map__set_max_entries({map})");

    /// <summary>Use an existing (pinned) map instead of creating one at load.</summary>
    internal void ReuseMap(string map, int fd)
        => Errors.Check(Interop.Libbpf.MapReuseFd(MapPointer(map), fd), $"bpf_map__reuse_fd({map})");

    /// <summary>Writes a const volatile setting in .rodata before load.</summary>
    internal void SetReadOnlyUInt32(int offset, uint value)
    {
        string rodata = _maps.Keys.Single(k => k.EndsWith(".rodata", StringComparison.Ordinal));
        nuint size;
        byte* data = (byte*)Interop.Libbpf.MapInitialValue(MapPointer(rodata), &size);
        if (data is null || (nuint)offset + 4 > size)
            throw new InvalidOperationException($"{rodata} has no 4-byte setting at offset {offset}");
        *(uint*)(data + offset) = value;
    }

    internal void Load()
    {
        using var capture = LibbpfLog.BeginCapture();
        int rc = Interop.Libbpf.ObjectLoad(Handle);
        if (rc < 0)
            throw new BpfException("bpf_object__load(seccomp)", -rc, capture.Summary());
    }

    internal (uint Type, uint KeySize, uint ValueSize) Describe(string map)
    {
        nint pointer = MapPointer(map);
        return (Interop.Libbpf.MapType(pointer), Interop.Libbpf.MapKeySize(pointer), Interop.Libbpf.MapValueSize(pointer));
    }

    internal BpfMap Map(string name) => new(name, Errors.Check(Interop.Libbpf.MapFd(MapPointer(name)), $"bpf_map__fd({name})"));

    internal int ProgramFd(string name) => Errors.Check(Interop.Libbpf.ProgramFd(Program(name)), $"bpf_program__fd({name})");

    /// <summary>Attaches by the program's SEC() name.</summary>
    internal SafeBpfLinkHandle Attach(string program)
    {
        nint link = Interop.Libbpf.ProgramAttach(Program(program));
        return new SafeBpfLinkHandle(Errors.CheckPointer(link, $"bpf_program__attach({program})"));
    }

    internal SafeBpfLinkHandle AttachCgroup(string program, int cgroupFd)
    {
        nint link = Interop.Libbpf.ProgramAttachCgroup(Program(program), cgroupFd);
        return new SafeBpfLinkHandle(Errors.CheckPointer(link, $"bpf_program__attach_cgroup({program})"));
    }

    public void Dispose()
    {
        _handle.Dispose();
        if (_elf is not null)
        {
            NativeMemory.Free(_elf);
            _elf = null;
        }
    }
}
