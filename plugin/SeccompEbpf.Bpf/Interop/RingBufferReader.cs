using System.Runtime.InteropServices;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace SeccompEbpf.Bpf.Interop;

/// <summary>Polls the events ring buffer on a dedicated thread and hands each record, copied, to a callback.</summary>
internal sealed unsafe class RingBufferReader : IDisposable
{
    private readonly SafeRingBufferHandle _ringBuffer;
    private readonly Func<nint, int, bool> _onRecord;
    private readonly ILogger _logger;
    private readonly Thread _thread;
    private volatile bool _stopping;
    private GCHandle _self;

    // onRecord runs on the poll thread with the record's address and size; it returns false when it dropped the record.
    internal RingBufferReader(int mapFd, Func<nint, int, bool> onRecord, ILogger logger)
    {
        _onRecord = onRecord;
        _logger = logger;
        _self = GCHandle.Alloc(this);
        nint rb = Interop.Libbpf.RingBufferNew(mapFd, &OnSample, (void*)GCHandle.ToIntPtr(_self), null);
        if (rb == 0)
        {
            int errno = Errors.LastErrno(-1);
            _self.Free();
            throw new BpfException("ring_buffer__new(events)", errno);
        }
        _ringBuffer = new SafeRingBufferHandle(rb);
        _thread = new Thread(Poll) { IsBackground = true, Name = "seccomp-ebpf events" };
        _thread.Start();
    }

    internal long Dropped;

    private void Poll()
    {
        while (!_stopping)
        {
            int rc = Interop.Libbpf.RingBufferPoll(_ringBuffer.DangerousGetHandle(), 100);
            if (rc < 0 && rc != -4 /* EINTR */)
            {
                _logger.LogError("ring_buffer__poll(events) failed: {Error}", Errors.Name(-rc));
                Thread.Sleep(100);
            }
        }
    }

    [UnmanagedCallersOnly]
    private static int OnSample(void* context, void* data, nuint size)
    {
        try
        {
            var reader = (RingBufferReader)GCHandle.FromIntPtr((nint)context).Target!;
            if (!reader._onRecord((nint)data, (int)size))
                Interlocked.Increment(ref reader.Dropped);
        }
        catch
        {
            // never let an exception cross into native code
        }
        return 0;
    }

    public void Dispose()
    {
        if (_stopping)
            return;
        _stopping = true;
        _thread.Join();
        _ringBuffer.Dispose();
        _self.Free();
    }
}
