using System.Net;
using System.Net.Sockets;

namespace QuantPS.PowerShell.Tests;

/// <summary>
/// A loopback HTTP server for -Uri tests: serves files from a folder with Range support (206),
/// 404 for anything missing, 500 for paths under /fail/, and no answer at all under /hang/.
/// </summary>
public sealed class RangeServer : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly string _root;
    private readonly Task _loop;
    private readonly CancellationTokenSource _closing = new();

    public RangeServer(string root)
    {
        _root = root;
        var port = FreePort();
        BaseUri = new Uri($"http://127.0.0.1:{port}/");
        _listener.Prefixes.Add(BaseUri.AbsoluteUri);
        _listener.Start();
        _loop = Task.Run(ServeAsync);
    }

    public Uri BaseUri { get; }

    public Uri UriOf(string name) => new(BaseUri, name);

    /// <summary>Released each time a request under /hang/ arrives.</summary>
    public SemaphoreSlim HangingRequests { get; } = new(0);

    /// <summary>A port nothing listens on, for connection failures.</summary>
    public static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
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

    /// <summary>Drops every hanging connection, so a client stuck on one fails instead of waiting forever.</summary>
    public void ReleaseHangs() => _closing.Cancel();

    private async Task HandleAsync(HttpListenerContext context)
    {
        try
        {
            if (context.Request.Url!.AbsolutePath.StartsWith("/hang/", StringComparison.Ordinal))
            {
                HangingRequests.Release();
                await Task.Delay(Timeout.Infinite, _closing.Token).ContinueWith(_ => { }, TaskScheduler.Default);
                context.Response.Abort();
                return;
            }

            Serve(context);
            context.Response.Close();
        }
        catch (Exception e) when (e is HttpListenerException or IOException or ObjectDisposedException)
        {
            // The client hung up (it read what it needed): nothing to do.
        }
    }

    private void Serve(HttpListenerContext context)
    {
        var name = Uri.UnescapeDataString(context.Request.Url!.AbsolutePath.TrimStart('/'));
        var path = Path.Combine(_root, name);
        if (name.StartsWith("fail/", StringComparison.Ordinal))
        {
            context.Response.StatusCode = 500;
            return;
        }

        if (!File.Exists(path))
        {
            context.Response.StatusCode = 404;
            return;
        }

        var bytes = File.ReadAllBytes(path);
        var (from, to) = ParseRange(context.Request.Headers["Range"], bytes.Length);
        if (from > 0 || to < bytes.Length - 1)
        {
            context.Response.StatusCode = 206;
            context.Response.AddHeader("Content-Range", $"bytes {from}-{to}/{bytes.Length}");
        }

        context.Response.ContentLength64 = to - from + 1;
        context.Response.OutputStream.Write(bytes, (int)from, (int)(to - from + 1));
    }

    private static (long From, long To) ParseRange(string? header, long length)
    {
        if (header is null || !header.StartsWith("bytes=", StringComparison.Ordinal))
        {
            return (0, length - 1);
        }

        var parts = header["bytes=".Length..].Split('-');
        var from = long.Parse(parts[0]);
        var to = parts[1].Length == 0 ? length - 1 : Math.Min(long.Parse(parts[1]), length - 1);
        return (from, to);
    }

    public void Dispose()
    {
        if (_closing.IsCancellationRequested)
        {
            return;
        }

        _closing.Cancel();
        _listener.Stop();
        _listener.Close();
        _loop.Wait(TimeSpan.FromSeconds(5));
    }
}
