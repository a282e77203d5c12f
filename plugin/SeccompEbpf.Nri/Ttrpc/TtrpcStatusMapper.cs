using Google.Protobuf;
using SeccompEbpf.Nri.Ttrpc.Wire;

namespace SeccompEbpf.Nri.Ttrpc;

/// <summary>Turns a handler's exception into the status a ttrpc reply carries.</summary>
internal static class TtrpcStatusMapper
{
    /// <param name="exception">What the handler threw.</param>
    /// <param name="deadlinePassed">True when the request's own deadline (timeout_nano) fired.</param>
    public static Status ToStatus(Exception exception, bool deadlinePassed) => exception switch
    {
        NriVetoException veto => New(NriStatusCode.PermissionDenied, veto.Message),
        NriStatusException status => New(status.Code, status.Message),
        OperationCanceledException when deadlinePassed => New(NriStatusCode.DeadlineExceeded, "context deadline exceeded"),
        OperationCanceledException => New(NriStatusCode.Cancelled, "context canceled"),
        InvalidProtocolBufferException bad => New(NriStatusCode.InvalidArgument, bad.Message),
        NotImplementedException or NotSupportedException => New(NriStatusCode.Unimplemented, exception.Message),
        _ => New(NriStatusCode.Unknown, exception.Message),
    };

    public static Status New(NriStatusCode code, string message) => new() { Code = (int)code, Message = message };
}
