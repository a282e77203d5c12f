using System.Runtime.InteropServices;

namespace SeccompEbpf.Bpf.Interop;

internal static partial class Interop
{
    internal static unsafe partial class Libbpf
    {
        [LibraryImport(Libraries.Libbpf, EntryPoint = "ring_buffer__new", SetLastError = true)]
        internal static partial nint RingBufferNew(int mapFd, delegate* unmanaged<void*, void*, nuint, int> sampleCallback, void* context, void* opts);

        /// <summary>Blocks up to timeoutMs; returns the number of records consumed or -errno.</summary>
        [LibraryImport(Libraries.Libbpf, EntryPoint = "ring_buffer__poll")]
        internal static partial int RingBufferPoll(nint ringBuffer, int timeoutMs);

        [LibraryImport(Libraries.Libbpf, EntryPoint = "ring_buffer__free")]
        internal static partial void RingBufferFree(nint ringBuffer);
    }
}
