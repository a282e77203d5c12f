using Google.Protobuf;
using Nri.Pkg.Api.V1Alpha1;
using SeccompEbpf.Nri.Ttrpc;

namespace SeccompEbpf.Nri.Tests;

public sealed class StatusMappingTests
{
    public static TheoryData<Exception, bool, NriStatusCode, string> Cases => new()
    {
        { new NriVetoException("policy says no"), false, NriStatusCode.PermissionDenied, "policy says no" },
        { new NriStatusException(NriStatusCode.Internal, "broken"), false, NriStatusCode.Internal, "broken" },
        { new OperationCanceledException(), true, NriStatusCode.DeadlineExceeded, "context deadline exceeded" },
        { new TaskCanceledException(), true, NriStatusCode.DeadlineExceeded, "context deadline exceeded" },
        { new OperationCanceledException(), false, NriStatusCode.Cancelled, "context canceled" },
        { ParseError(), false, NriStatusCode.InvalidArgument, ParseError().Message },
        { new NotImplementedException("later"), false, NriStatusCode.Unimplemented, "later" },
        { new InvalidOperationException("oops"), false, NriStatusCode.Unknown, "oops" },
    };

    private static InvalidProtocolBufferException ParseError()
    {
        try
        {
            Empty.Parser.ParseFrom([0xff, 0xff]);
        }
        catch (InvalidProtocolBufferException ex)
        {
            return ex;
        }

        throw new InvalidOperationException("0xff 0xff unexpectedly decoded as a protobuf message");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void MapsHandlerExceptionsToStatusCodes(Exception exception, bool deadlinePassed, NriStatusCode code, string message)
    {
        var status = TtrpcStatusMapper.ToStatus(exception, deadlinePassed);
        Assert.Equal((int)code, status.Code);
        Assert.Equal(message, status.Message);
    }

    [Fact]
    public void UnknownServiceAndMethodGetGosUnimplementedTexts()
    {
        var table = new TtrpcServiceTable();
        table.Add("svc.A", "Known", Empty.Parser, (_, _) => ValueTask.FromResult(new Empty()));

        Assert.True(table.TryGet("svc.A", "Known", out _, out _));
        Assert.False(table.TryGet("svc.B", "Known", out _, out string service));
        Assert.Equal("service svc.B", service);
        Assert.False(table.TryGet("svc.A", "Other", out _, out string method));
        Assert.Equal("method Other", method);
    }

    [Fact]
    public async Task UndecodableRequestPayloadIsInvalidArgument()
    {
        var table = new TtrpcServiceTable();
        table.Add("svc.A", "Known", Empty.Parser, (_, _) => ValueTask.FromResult(new Empty()));
        table.TryGet("svc.A", "Known", out TtrpcMethod? method, out _);

        var error = await Assert.ThrowsAsync<NriStatusException>(async () => await method!(ByteString.CopyFrom(0xff, 0xff), CancellationToken.None));
        Assert.Equal(NriStatusCode.InvalidArgument, error.Code);
        Assert.StartsWith("unmarshal Known request", error.Message, StringComparison.Ordinal);
    }
}
