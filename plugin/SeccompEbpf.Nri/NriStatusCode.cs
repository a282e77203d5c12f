namespace SeccompEbpf.Nri;

/// <summary>Status codes of a ttrpc reply; ttrpc borrows gRPC's numbering.</summary>
public enum NriStatusCode
{
    /// <summary>Success.</summary>
    Ok = 0,
    /// <summary>The call was cancelled by the caller.</summary>
    Cancelled = 1,
    /// <summary>An error without a better code; Go maps plain errors to this.</summary>
    Unknown = 2,
    /// <summary>Bad request: ttrpc protocol errors and undecodable messages.</summary>
    InvalidArgument = 3,
    /// <summary>The request deadline passed.</summary>
    DeadlineExceeded = 4,
    /// <summary>Policy veto; the runtime passes the message on verbatim.</summary>
    PermissionDenied = 7,
    /// <summary>A message exceeded the 4 MiB ttrpc limit.</summary>
    ResourceExhausted = 8,
    /// <summary>Unknown service or method; NRI 0.12 runtimes then fall back to StateChange.</summary>
    Unimplemented = 12,
    /// <summary>An internal error.</summary>
    Internal = 13,
    /// <summary>The service is not available.</summary>
    Unavailable = 14,
}
