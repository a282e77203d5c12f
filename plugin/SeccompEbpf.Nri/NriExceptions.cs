namespace SeccompEbpf.Nri;

/// <summary>Base of every error the NRI library raises itself.</summary>
public class NriException : Exception
{
    /// <summary>Creates the exception with a message and an optional cause.</summary>
    public NriException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>The connection to the runtime could not be made or was lost; the cause is the inner exception.</summary>
public sealed class NriConnectionException : NriException
{
    /// <summary>Creates the exception with a message and an optional cause.</summary>
    public NriConnectionException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>The peer broke the mux or ttrpc framing; the whole connection is closed.</summary>
public sealed class NriProtocolException : NriException
{
    /// <summary>Creates the exception naming the protocol violation.</summary>
    public NriProtocolException(string message) : base(message) { }
}

/// <summary>The runtime answered RegisterPlugin with an error; this is fatal for the plugin.</summary>
public sealed class NriRegistrationException : NriException
{
    /// <summary>Creates the exception carrying the runtime's status.</summary>
    public NriRegistrationException(NriStatusCode code, string runtimeMessage)
        : base($"the runtime rejected plugin registration ({code}): {runtimeMessage}")
    {
        Code = code;
        RuntimeMessage = runtimeMessage;
    }

    /// <summary>The status code of the runtime's reply.</summary>
    public NriStatusCode Code { get; }

    /// <summary>The runtime's message, verbatim.</summary>
    public string RuntimeMessage { get; }
}

/// <summary>A non-OK ttrpc reply, or an error a handler wants answered with a specific status code.</summary>
public sealed class NriStatusException : NriException
{
    /// <summary>Creates the exception with a status code and its message.</summary>
    public NriStatusException(NriStatusCode code, string message) : base(message) => Code = code;

    /// <summary>The status code.</summary>
    public NriStatusCode Code { get; }
}

/// <summary>Thrown by a handler to veto an event; answered with status 7 (PermissionDenied) and the message verbatim.</summary>
public sealed class NriVetoException : Exception
{
    /// <summary>Creates the veto; the message reaches the CRI client unchanged.</summary>
    public NriVetoException(string message) : base(message) { }
}
