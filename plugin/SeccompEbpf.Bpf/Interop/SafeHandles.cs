using System.Runtime.InteropServices;

namespace SeccompEbpf.Bpf.Interop;

/// <summary>struct bpf_object*, closed with bpf_object__close (which closes its map and program fds).</summary>
internal sealed class SafeBpfObjectHandle : SafeHandle
{
    public SafeBpfObjectHandle() : base(0, ownsHandle: true) { }
    internal SafeBpfObjectHandle(nint handle) : this() => SetHandle(handle);
    public override bool IsInvalid => handle == 0;
    protected override bool ReleaseHandle()
    {
        Interop.Libbpf.ObjectClose(handle);
        return true;
    }
}

/// <summary>struct bpf_link*: destroying it detaches the program unless the link is pinned.</summary>
internal sealed class SafeBpfLinkHandle : SafeHandle
{
    public SafeBpfLinkHandle() : base(0, ownsHandle: true) { }
    internal SafeBpfLinkHandle(nint handle) : this() => SetHandle(handle);
    public override bool IsInvalid => handle == 0;
    protected override bool ReleaseHandle() => Interop.Libbpf.LinkDestroy(handle) == 0;
}

/// <summary>struct ring_buffer*, freed with ring_buffer__free.</summary>
internal sealed class SafeRingBufferHandle : SafeHandle
{
    public SafeRingBufferHandle() : base(0, ownsHandle: true) { }
    internal SafeRingBufferHandle(nint handle) : this() => SetHandle(handle);
    public override bool IsInvalid => handle == 0;
    protected override bool ReleaseHandle()
    {
        Interop.Libbpf.RingBufferFree(handle);
        return true;
    }
}

/// <summary>A BPF map, program or link file descriptor of our own (from bpf_obj_get), closed with close(2).</summary>
internal sealed class SafeBpfFdHandle : SafeHandle
{
    public SafeBpfFdHandle() : base(-1, ownsHandle: true) { }
    internal SafeBpfFdHandle(int fd) : this() => SetHandle(fd);
    public override bool IsInvalid => handle < 0;
    internal int Fd => (int)handle;
    protected override bool ReleaseHandle() => Interop.LibC.Close((int)handle) == 0;
}
