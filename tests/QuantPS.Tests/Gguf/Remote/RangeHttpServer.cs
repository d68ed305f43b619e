using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;

namespace QuantPS.Tests.Gguf.Remote;

/// <summary>How <see cref="RangeHttpServer"/> answers a GET.</summary>
public enum ServeMode
{
    /// <summary>206 with Content-Range for Range requests, as file servers and CDNs do.</summary>
    Range,

    /// <summary>200 with the whole body and Content-Length, whatever the Range header says.</summary>
    IgnoreRange,

    /// <summary>200, Range ignored, no Content-Length: the body runs until the connection closes.</summary>
    NoLength,

    /// <summary>Reads the request and never answers (for timeouts).</summary>
    Stall,
}

/// <summary>
/// A minimal HTTP/1.1 file server on 127.0.0.1 for tests: one request per connection, a fixed
/// route table, counters of requests and body bytes written. It stops after a bounded number of
/// requests or a minute, whichever comes first, and on Dispose.
/// </summary>
public sealed partial class RangeHttpServer : IDisposable
{
    private const int MaxRequests = 200;
    private readonly TcpListener _listener;
    private readonly ConcurrentDictionary<string, string> _files = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new(TimeSpan.FromMinutes(1));
    private readonly Task _loop;
    private long _bytesServed;
    private int _requests;

    public RangeHttpServer(ServeMode mode = ServeMode.Range)
    {
        Mode = mode;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _loop = Task.Run(AcceptLoopAsync);
    }

    public ServeMode Mode { get; set; }

    public string ContentType { get; set; } = "application/octet-stream";

    public int Port { get; }

    /// <summary>Body bytes the server's socket accepted (the kernel may still hold some unsent).</summary>
    public long BytesServed => Interlocked.Read(ref _bytesServed);

    public int Requests => Volatile.Read(ref _requests);

    /// <summary>The Range header of every request, in arrival order ("" when none).</summary>
    public ConcurrentQueue<string> Ranges { get; } = new();

    /// <summary>Serves <paramref name="file"/> at /<paramref name="name"/> and returns its URL.</summary>
    public Uri Serve(string name, string file)
    {
        _files["/" + name] = file;
        return new Uri($"http://127.0.0.1:{Port}/{name}");
    }

    public Uri UrlOf(string name) => new($"http://127.0.0.1:{Port}/{name}");

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        try
        {
            _loop.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
            // the loop ends by its listener being stopped
        }

        _stop.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        var handlers = new List<Task>();
        try
        {
            while (!_stop.IsCancellationRequested && _requests < MaxRequests)
            {
                var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                Interlocked.Increment(ref _requests);
                handlers.Add(Task.Run(() => HandleAsync(client)));
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // stopped
        }
        finally
        {
            _listener.Stop();
            await Task.WhenAll(handlers).WaitAsync(TimeSpan.FromSeconds(5)).ContinueWith(_ => { });
        }
    }

    private async Task HandleAsync(TcpClient client)
    {
        using var _ = client;
        try
        {
            // A small send buffer, so BytesServed is close to what the client really took.
            client.SendBufferSize = 64 * 1024;
            var stream = client.GetStream();
            var head = await ReadHeadAsync(stream);
            if (head is null)
            {
                return;
            }

            var (path, range) = head.Value;
            Ranges.Enqueue(range ?? string.Empty);
            if (Mode == ServeMode.Stall)
            {
                await Task.Delay(Timeout.Infinite, _stop.Token);
                return;
            }

            if (!_files.TryGetValue(path, out var file))
            {
                await WriteHeadAsync(stream, "404 Not Found", "Content-Length: 0");
                return;
            }

            await using var source = File.OpenRead(file);
            var length = source.Length;
            var match = range is null ? null : RangeHeader().Match(range);
            if (Mode != ServeMode.Range || match is not { Success: true })
            {
                var lengthHeader = Mode == ServeMode.NoLength ? null : $"Content-Length: {length}";
                await WriteHeadAsync(stream, "200 OK", lengthHeader);
                await CopyAsync(source, stream, length);
                return;
            }

            var from = long.Parse(match.Groups["from"].Value, CultureInfo.InvariantCulture);
            var to = match.Groups["to"].Success ? long.Parse(match.Groups["to"].Value, CultureInfo.InvariantCulture) : length - 1;
            if (from >= length)
            {
                await WriteHeadAsync(stream, "416 Range Not Satisfiable", $"Content-Range: bytes */{length}", "Content-Length: 0");
                return;
            }

            to = Math.Min(to, length - 1);
            await WriteHeadAsync(stream, "206 Partial Content", $"Content-Range: bytes {from}-{to}/{length}", $"Content-Length: {to - from + 1}");
            source.Position = from;
            await CopyAsync(source, stream, to - from + 1);
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // the client hung up: what it took is counted already
        }
    }

    private async Task CopyAsync(Stream source, NetworkStream destination, long count)
    {
        var chunk = new byte[64 * 1024];
        while (count > 0)
        {
            var n = await source.ReadAsync(chunk.AsMemory(0, (int)Math.Min(chunk.Length, count)), _stop.Token);
            if (n == 0)
            {
                return;
            }

            await destination.WriteAsync(chunk.AsMemory(0, n), _stop.Token);
            Interlocked.Add(ref _bytesServed, n);
            count -= n;
        }
    }

    private async Task WriteHeadAsync(NetworkStream stream, string status, params string?[] headers)
    {
        var text = new StringBuilder($"HTTP/1.1 {status}\r\nConnection: close\r\nContent-Type: {ContentType}\r\n");
        foreach (var header in headers.Where(h => h is not null))
        {
            text.Append(header).Append("\r\n");
        }

        text.Append("\r\n");
        await stream.WriteAsync(Encoding.ASCII.GetBytes(text.ToString()), _stop.Token);
    }

    /// <summary>Reads the request head (at most 16 KiB): the path and the Range header if any.</summary>
    private async Task<(string Path, string? Range)?> ReadHeadAsync(NetworkStream stream)
    {
        var buffer = new byte[16 * 1024];
        var length = 0;
        while (length < buffer.Length)
        {
            var n = await stream.ReadAsync(buffer.AsMemory(length), _stop.Token);
            if (n == 0)
            {
                return null;
            }

            length += n;
            var text = Encoding.ASCII.GetString(buffer, 0, length);
            var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            if (end < 0)
            {
                continue;
            }

            var lines = text[..end].Split("\r\n");
            var path = lines[0].Split(' ')[1];
            var query = path.IndexOf('?', StringComparison.Ordinal);
            path = Uri.UnescapeDataString(query < 0 ? path : path[..query]);
            var range = lines.Skip(1).FirstOrDefault(l => l.StartsWith("Range:", StringComparison.OrdinalIgnoreCase))?[6..].Trim();
            return (path, range);
        }

        return null;
    }

    [GeneratedRegex(@"^bytes=(?<from>\d+)-(?<to>\d+)?$")]
    private static partial Regex RangeHeader();
}
