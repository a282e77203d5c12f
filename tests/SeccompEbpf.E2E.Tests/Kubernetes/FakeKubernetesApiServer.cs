using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;

namespace SeccompEbpf.E2E.Tests.Kubernetes;

/// <summary>
/// A FAKE Kubernetes API server for tests (no real one can run here): pods and ConfigMaps served over plain HTTP on
/// 127.0.0.1 in the real wire format — JSON lists with a resourceVersion, <c>?watch=true</c> as chunked
/// newline-delimited watch events (ADDED, MODIFIED, DELETED, BOOKMARK), an expired resourceVersion as an ERROR event
/// carrying a 410 Status — and an Events endpoint that records what it receives. Tests can cut the watches (and
/// refuse new ones with 503) and compact the history, as an API server restart or etcd compaction would.
/// </summary>
public sealed class FakeKubernetesApiServer : IAsyncDisposable
{
    private readonly HttpListener _listener = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _lock = new();
    private readonly Dictionary<(string Resource, string Namespace, string Name), JsonObject> _objects = [];
    private readonly List<(long Rv, string Resource, string Type, JsonObject Object)> _history = [];
    private readonly List<Watch> _watches = [];
    private readonly ConcurrentQueue<JsonObject> _events = new();
    private readonly ConcurrentQueue<string> _requests = new();
    private readonly Task _serving;
    private long _rv = 100;
    private long _compactedThrough;
    private bool _watchesDown;

    private sealed record Watch(string Resource, string? Namespace, Func<JsonObject, bool> Matches, Channel<string> Lines);

    private FakeKubernetesApiServer(int port)
    {
        Port = port;
        _listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        _listener.Start();
        _serving = Task.Run(ServeAsync);
    }

    public int Port { get; }

    public string Url => $"http://127.0.0.1:{Port}";

    /// <summary>The latest resourceVersion handed out.</summary>
    public long ResourceVersion
    {
        get
        {
            lock (_lock)
                return _rv;
        }
    }

    /// <summary>Every Event POSTed so far, as received (plus the name the server gave it).</summary>
    public IReadOnlyList<JsonObject> Events => _events.ToArray();

    /// <summary>Every request line, "GET /api/v1/pods?..." (for checking how the client listed and watched).</summary>
    public IReadOnlyList<string> Requests => _requests.ToArray();

    public static FakeKubernetesApiServer Start()
    {
        // Pick a free port, then let HttpListener bind it.
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        var port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        return new FakeKubernetesApiServer(port);
    }

    /// <summary>A kubeconfig that points a client at this server (token auth, plain HTTP).</summary>
    public string WriteKubeconfig(string path, string @namespace)
    {
        File.WriteAllText(path, $"""
            apiVersion: v1
            kind: Config
            clusters:
            - name: fake
              cluster:
                server: {Url}
            users:
            - name: fake
              user:
                token: fake-token
            contexts:
            - name: fake
              context:
                cluster: fake
                user: fake
                namespace: {@namespace}
            current-context: fake
            """);
        return path;
    }

    public void UpsertPod(string @namespace, string name, string uid, string nodeName, IReadOnlyDictionary<string, string> annotations)
    {
        var pod = new JsonObject
        {
            ["apiVersion"] = "v1",
            ["kind"] = "Pod",
            ["metadata"] = new JsonObject
            {
                ["name"] = name,
                ["namespace"] = @namespace,
                ["uid"] = uid,
                ["annotations"] = new JsonObject(annotations.Select(a => KeyValuePair.Create(a.Key, (JsonNode?)JsonValue.Create(a.Value)))),
            },
            ["spec"] = new JsonObject { ["nodeName"] = nodeName, ["containers"] = new JsonArray(new JsonObject { ["name"] = "probe", ["image"] = "busybox" }) },
            ["status"] = new JsonObject { ["phase"] = "Running" },
        };
        Upsert("pods", @namespace, name, pod);
    }

    public void DeletePod(string @namespace, string name) => Delete("pods", @namespace, name);

    public void UpsertConfigMap(string @namespace, string name, IReadOnlyDictionary<string, string> labels, IReadOnlyDictionary<string, string> data)
    {
        var configMap = new JsonObject
        {
            ["apiVersion"] = "v1",
            ["kind"] = "ConfigMap",
            ["metadata"] = new JsonObject
            {
                ["name"] = name,
                ["namespace"] = @namespace,
                ["uid"] = "cm-" + name,
                ["labels"] = new JsonObject(labels.Select(a => KeyValuePair.Create(a.Key, (JsonNode?)JsonValue.Create(a.Value)))),
            },
            ["data"] = new JsonObject(data.Select(a => KeyValuePair.Create(a.Key, (JsonNode?)JsonValue.Create(a.Value)))),
        };
        Upsert("configmaps", @namespace, name, configMap);
    }

    public void DeleteConfigMap(string @namespace, string name) => Delete("configmaps", @namespace, name);

    /// <summary>Sends a BOOKMARK with the current resourceVersion on every open watch.</summary>
    public void SendBookmarks()
    {
        lock (_lock)
        {
            foreach (var watch in _watches)
            {
                var kind = watch.Resource == "pods" ? "Pod" : "ConfigMap";
                var bookmark = new JsonObject { ["kind"] = kind, ["apiVersion"] = "v1", ["metadata"] = new JsonObject { ["resourceVersion"] = _rv.ToString() } };
                watch.Lines.Writer.TryWrite(EventLine("BOOKMARK", bookmark));
            }
        }
    }

    /// <summary>Closes every open watch; while down, new watch requests get 503 (lists still work).</summary>
    public void TakeWatchesDown()
    {
        lock (_lock)
        {
            _watchesDown = true;
            foreach (var watch in _watches)
                watch.Lines.Writer.TryComplete();
            _watches.Clear();
        }
    }

    public void BringWatchesUp()
    {
        lock (_lock)
            _watchesDown = false;
    }

    /// <summary>Forgets the history: a watch from any resourceVersion before now gets 410 Gone (as after etcd compaction).</summary>
    public void CompactHistory()
    {
        lock (_lock)
        {
            _compactedThrough = _rv;
            _history.Clear();
        }
    }

    private void Upsert(string resource, string @namespace, string name, JsonObject obj)
    {
        lock (_lock)
        {
            var rv = ++_rv;
            obj["metadata"]!["resourceVersion"] = rv.ToString();
            var type = _objects.ContainsKey((resource, @namespace, name)) ? "MODIFIED" : "ADDED";
            _objects[(resource, @namespace, name)] = obj;
            Publish(rv, resource, type, obj);
        }
    }

    private void Delete(string resource, string @namespace, string name)
    {
        lock (_lock)
        {
            if (!_objects.Remove((resource, @namespace, name), out var obj))
                return;
            var rv = ++_rv;
            obj = (JsonObject)obj.DeepClone();
            obj["metadata"]!["resourceVersion"] = rv.ToString();
            Publish(rv, resource, "DELETED", obj);
        }
    }

    private void Publish(long rv, string resource, string type, JsonObject obj)
    {
        _history.Add((rv, resource, type, (JsonObject)obj.DeepClone()));
        foreach (var watch in _watches.Where(w => w.Resource == resource && w.Matches(obj)))
            watch.Lines.Writer.TryWrite(EventLine(type, obj));
    }

    private static string EventLine(string type, JsonObject obj) =>
        new JsonObject { ["type"] = type, ["object"] = obj.DeepClone() }.ToJsonString() + "\n";

    private async Task ServeAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }
            _ = Task.Run(() => HandleAsync(context));
        }
    }

    private async Task HandleAsync(HttpListenerContext context)
    {
        var request = context.Request;
        var response = context.Response;
        var path = request.Url!.AbsolutePath;
        _requests.Enqueue($"{request.HttpMethod} {request.Url.PathAndQuery}");
        try
        {
            var segments = path.Trim('/').Split('/');
            // /api/v1/pods | /api/v1/namespaces/NS/RESOURCE
            string? ns = null;
            string resource;
            if (segments is ["api", "v1", var r])
                resource = r;
            else if (segments is ["api", "v1", "namespaces", var n, var r2])
                (ns, resource) = (n, r2);
            else
            {
                await WriteAsync(response, 404, Status(404, "NotFound", $"the fake API server does not serve {path}"));
                return;
            }
            if (request.HttpMethod == "POST" && resource == "events" && ns is not null)
            {
                using var reader = new StreamReader(request.InputStream, Encoding.UTF8);
                var body = JsonNode.Parse(await reader.ReadToEndAsync())!.AsObject();
                var metadata = body["metadata"] as JsonObject ?? new JsonObject();
                body["metadata"] = metadata;
                if (metadata["name"] is null)
                    metadata["name"] = (metadata["generateName"]?.GetValue<string>() ?? "event.") + Guid.NewGuid().ToString("N")[..5];
                metadata["namespace"] = ns;
                _events.Enqueue(body);
                await WriteAsync(response, 201, body.ToJsonString());
                return;
            }
            if (request.HttpMethod != "GET" || resource is not ("pods" or "configmaps"))
            {
                await WriteAsync(response, 405, Status(405, "MethodNotAllowed", $"{request.HttpMethod} {path} is not served by the fake API server"));
                return;
            }
            var matches = Selector(ns, request.QueryString["fieldSelector"], request.QueryString["labelSelector"]);
            if (request.QueryString["watch"] is "true" or "1")
                await WatchAsync(response, resource, ns, matches, request.QueryString["resourceVersion"], request.QueryString["timeoutSeconds"]);
            else
                await ListAsync(response, resource, ns, matches);
        }
        catch (Exception e) when (e is HttpListenerException or IOException or ObjectDisposedException)
        {
            // The client went away.
        }
        finally
        {
            try
            {
                response.Close();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
            }
        }
    }

    private static Func<JsonObject, bool> Selector(string? ns, string? fieldSelector, string? labelSelector)
    {
        var fields = Pairs(fieldSelector);
        var labels = Pairs(labelSelector);
        return obj =>
        {
            if (ns is not null && obj["metadata"]?["namespace"]?.GetValue<string>() != ns)
                return false;
            foreach (var (key, value) in fields)
            {
                if (key != "spec.nodeName")
                    throw new InvalidOperationException($"the fake API server does not support field selector {key}");
                if (obj["spec"]?["nodeName"]?.GetValue<string>() != value)
                    return false;
            }
            foreach (var (key, value) in labels)
            {
                if (obj["metadata"]?["labels"]?[key]?.GetValue<string>() != value)
                    return false;
            }
            return true;
        };
    }

    private static List<(string, string)> Pairs(string? selector) =>
        string.IsNullOrEmpty(selector) ? [] : selector.Split(',').Select(p => p.Split('=', 2)).Select(p => (p[0], p.Length > 1 ? p[1] : "")).ToList();

    private async Task ListAsync(HttpListenerResponse response, string resource, string? ns, Func<JsonObject, bool> matches)
    {
        string body;
        lock (_lock)
        {
            var items = new JsonArray(_objects.Where(o => o.Key.Resource == resource).Select(o => o.Value).Where(matches)
                .Select(o => (JsonNode)o.DeepClone()).ToArray());
            body = new JsonObject
            {
                ["apiVersion"] = "v1",
                ["kind"] = resource == "pods" ? "PodList" : "ConfigMapList",
                ["metadata"] = new JsonObject { ["resourceVersion"] = _rv.ToString() },
                ["items"] = items,
            }.ToJsonString();
        }
        await WriteAsync(response, 200, body);
    }

    private async Task WatchAsync(HttpListenerResponse response, string resource, string? ns, Func<JsonObject, bool> matches, string? resourceVersion, string? timeoutSeconds)
    {
        Watch watch;
        string? expired = null;
        lock (_lock)
        {
            if (_watchesDown)
            {
                expired = "down";
                watch = null!;
            }
            else
            {
                watch = new Watch(resource, ns, matches, Channel.CreateUnbounded<string>());
                var from = long.TryParse(resourceVersion, out var rv) ? rv : 0;
                if (from == 0)
                {
                    foreach (var obj in _objects.Where(o => o.Key.Resource == resource).Select(o => o.Value).Where(matches))
                        watch.Lines.Writer.TryWrite(EventLine("ADDED", obj));
                }
                else if (from < _compactedThrough)
                {
                    expired = $"too old resource version: {from} ({_compactedThrough})";
                }
                else
                {
                    foreach (var (_, _, type, obj) in _history.Where(h => h.Rv > from && h.Resource == resource && matches(h.Object)))
                        watch.Lines.Writer.TryWrite(EventLine(type, obj));
                }
                if (expired is null)
                    _watches.Add(watch);
            }
        }
        if (expired == "down")
        {
            await WriteAsync(response, 503, Status(503, "ServiceUnavailable", "the fake API server's watches are down"));
            return;
        }
        response.StatusCode = 200;
        response.ContentType = "application/json";
        response.SendChunked = true;
        var output = response.OutputStream;
        if (expired is not null)
        {
            // What kube-apiserver does: 200, one ERROR event with a 410 Status, end of stream.
            var error = new JsonObject { ["type"] = "ERROR", ["object"] = JsonNode.Parse(Status(410, "Expired", expired)) }.ToJsonString() + "\n";
            await output.WriteAsync(Encoding.UTF8.GetBytes(error));
            await output.FlushAsync();
            return;
        }
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        timeout.CancelAfter(TimeSpan.FromSeconds(int.TryParse(timeoutSeconds, out var t) && t > 0 ? t : 1800));
        try
        {
            await foreach (var line in watch.Lines.Reader.ReadAllAsync(timeout.Token))
            {
                await output.WriteAsync(Encoding.UTF8.GetBytes(line), timeout.Token);
                await output.FlushAsync(timeout.Token);
            }
        }
        catch (OperationCanceledException)
        {
            // Server-side timeout or shutdown: end the stream, as the real server does.
        }
        finally
        {
            lock (_lock)
                _watches.Remove(watch);
        }
    }

    private static string Status(int code, string reason, string message) => new JsonObject
    {
        ["kind"] = "Status",
        ["apiVersion"] = "v1",
        ["metadata"] = new JsonObject(),
        ["status"] = "Failure",
        ["message"] = message,
        ["reason"] = reason,
        ["code"] = code,
    }.ToJsonString();

    private static async Task WriteAsync(HttpListenerResponse response, int status, string body)
    {
        var bytes = Encoding.UTF8.GetBytes(body);
        response.StatusCode = status;
        response.ContentType = "application/json";
        response.ContentLength64 = bytes.Length;
        await response.OutputStream.WriteAsync(bytes);
    }

    /// <summary>Events whose reason is <paramref name="reason"/>.</summary>
    public IReadOnlyList<JsonObject> EventsWithReason(string reason) =>
        Events.Where(e => e["reason"]?.GetValue<string>() == reason).ToList();

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        lock (_lock)
        {
            foreach (var watch in _watches)
                watch.Lines.Writer.TryComplete();
        }
        _listener.Stop();
        _listener.Close();
        try
        {
            await _serving;
        }
        catch (Exception e) when (e is HttpListenerException or ObjectDisposedException)
        {
        }
    }
}
