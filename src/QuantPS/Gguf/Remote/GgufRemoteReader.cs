using System.Net;
using System.Net.Http.Headers;

namespace QuantPS.Gguf;

/// <summary>Counts bytes downloaded over every request and shard of one open, for <see cref="GgufRemoteOptions.BytesRead"/>.</summary>
internal sealed class GgufRemoteProgress(IProgress<long>? sink)
{
    private long _total;

    public long Total => Interlocked.Read(ref _total);

    public void Add(long bytes) => sink?.Report(Interlocked.Add(ref _total, bytes));
}

/// <summary>
/// Reads the header of one remote GGUF file: a ranged GET for the first bytes, then further
/// ranges for the missing tail only, doubling until the parser has the whole header. A server
/// that ignores Range is read as a stream and dropped as soon as the header is complete.
/// Buffers are sized by what the parser asked for, never by what the server announces.
/// </summary>
internal sealed class GgufRemoteReader : IDisposable
{
    internal const string UserAgent = "QuantPS/0.1";

    private static readonly Lazy<HttpClient> SharedClient = new(CreateSharedClient);

    private readonly HttpClient _client;
    private readonly Uri _uri;
    private readonly string _location;
    private readonly GgufRemoteOptions _options;
    private readonly GgufRemoteProgress _progress;
    private readonly CancellationToken _cancel;

    private byte[] _buffer = [];
    private long _have;
    private long _total = -1;
    private bool _html;

    // The response being read: its body yields the file's bytes [_bodyPos, _bodyEnd).
    private HttpResponseMessage? _response;
    private Stream? _body;
    private long _bodyPos;
    private long _bodyEnd;

    private GgufRemoteReader(Uri uri, string location, GgufRemoteOptions options, GgufRemoteProgress progress, CancellationToken cancel)
    {
        _client = options.HttpClient ?? SharedClient.Value;
        _uri = uri;
        _location = location;
        _options = options;
        _progress = progress;
        _cancel = cancel;
    }

    /// <summary>Fetches and parses the header of the file at <paramref name="uri"/>; its FileLength is the remote length.</summary>
    public static async Task<GgufHeader> ReadHeaderAsync(Uri uri, string location, GgufRemoteOptions options, GgufRemoteProgress progress, CancellationToken cancel)
    {
        using var reader = new GgufRemoteReader(uri, location, options, progress, cancel);
        return await reader.ReadAsync().ConfigureAwait(false);
    }

    /// <summary>The URL as messages and <see cref="GgufShard.Location"/> show it: without user:password.</summary>
    public static string Describe(Uri uri) =>
        string.IsNullOrEmpty(uri.UserInfo) ? uri.AbsoluteUri : new UriBuilder(uri) { UserName = string.Empty, Password = string.Empty }.Uri.AbsoluteUri;

    private async Task<GgufHeader> ReadAsync()
    {
        var max = _options.MaxHeaderBytes;
        long want = Math.Min(_options.InitialRangeBytes, max);
        while (true)
        {
            await FillAsync(want).ConfigureAwait(false);
            try
            {
                return Parse();
            }
            catch (GgufNeedMoreDataException e)
            {
                if (e.Required > max)
                {
                    throw new GgufException(GgufErrorKind.HeaderTooLarge,
                        $"{_location}: the GGUF header needs at least {e.Required} bytes, more than the {max} allowed (MaxHeaderBytes). Raise GgufRemoteOptions.MaxHeaderBytes if you trust this file.",
                        _location);
                }

                // At least double, so even a 100 MB vocabulary takes few round trips.
                want = Math.Min(Math.Max(e.Required, _have * 2), max);
            }
            catch (GgufException e)
            {
                throw Explain(e);
            }
        }
    }

    private unsafe GgufHeader Parse()
    {
        fixed (byte* data = _buffer)
        {
            return GgufHeaderParser.Parse(data, _have, _total, _options.Mode);
        }
    }

    /// <summary>Downloads until the buffer holds min(<paramref name="want"/>, file length) bytes.</summary>
    private async Task FillAsync(long want)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_cancel);
        timeout.CancelAfter(_options.Timeout);
        var token = timeout.Token;
        try
        {
            while (_total < 0 || _have < Math.Min(want, _total))
            {
                if (_body is null || _bodyPos != _have)
                {
                    await RequestAsync(_have, want, token).ConfigureAwait(false);
                }

                var end = Math.Min(want, _total);
                if (_have >= end)
                {
                    break;
                }

                Reserve(end);
                var count = (int)(Math.Min(end, _bodyEnd) - _have);
                var read = await _body!.ReadAsync(_buffer.AsMemory((int)_have, count), token).ConfigureAwait(false);
                if (read == 0)
                {
                    throw Remote($"the connection closed at byte {_have}, before the {_bodyEnd} bytes the server announced.");
                }

                _have += read;
                _bodyPos += read;
                _progress.Add(read);
                if (_bodyPos >= _bodyEnd)
                {
                    CloseBody(); // read to its end: the connection goes back to the pool
                }
            }
        }
        catch (OperationCanceledException e) when (!_cancel.IsCancellationRequested)
        {
            var limit = _options.Timeout == Timeout.InfiniteTimeSpan ? "by the HttpClient's own Timeout" : $"after {_options.Timeout.TotalSeconds:0.###} s (GgufRemoteOptions.Timeout)";
            throw Remote($"the request timed out {limit}.", e);
        }
        catch (HttpRequestException e)
        {
            throw Remote($"cannot reach the server: {e.Message}", e);
        }
        catch (IOException e)
        {
            throw Remote($"the connection failed: {e.Message}", e);
        }
    }

    /// <summary>Sends a GET for bytes [from, want) and leaves <see cref="_body"/> positioned at <paramref name="from"/>.</summary>
    private async Task RequestAsync(long from, long want, CancellationToken token)
    {
        CloseBody();
        using var request = new HttpRequestMessage(HttpMethod.Get, _uri);
        request.Headers.Range = new RangeHeaderValue(from, want - 1);
        if (_client.DefaultRequestHeaders.UserAgent.Count == 0)
        {
            request.Headers.UserAgent.ParseAdd(UserAgent);
        }

        // Headers only: the body is streamed, so a server ignoring Range never sends more than we read.
        var response = await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, token).ConfigureAwait(false);
        _response = response;
        var content = response.Content.Headers;
        _html |= string.Equals(content.ContentType?.MediaType, "text/html", StringComparison.OrdinalIgnoreCase);
        switch (response.StatusCode)
        {
            case HttpStatusCode.PartialContent:
                if (content.ContentRange is not { From: { } first, To: { } last } range || first != from || last < first)
                {
                    throw Remote($"asked for bytes {from}-{want - 1}, but the server answered with the range '{content.ContentRange}'.");
                }

                SetTotal(range.Length ?? throw Remote("the server did not say how long the file is (Content-Range ends in '*')."));
                if (last >= _total)
                {
                    throw Remote($"the server sent the range '{range}', which ends past the file's end.");
                }

                _bodyEnd = last + 1;
                break;

            case HttpStatusCode.OK:
                // Range ignored: the body is the whole file, read only as far as needed.
                SetTotal(content.ContentLength ?? throw Remote("the server ignored the Range request and sent no Content-Length, so the file's length is unknown. The server must support Range requests or send Content-Length."));
                _bodyEnd = _total;
                break;

            case HttpStatusCode.RequestedRangeNotSatisfiable when content.ContentRange?.Length is { } length && from >= length:
                SetTotal(length); // the file ends before `from` (an empty file on the first request)
                CloseBody();
                return;

            default:
                throw StatusError(response);
        }

        if (content.ContentEncoding.Any(e => !e.Equals("identity", StringComparison.OrdinalIgnoreCase)))
        {
            throw Remote($"the server compressed the response (Content-Encoding: {string.Join(", ", content.ContentEncoding)}), so its bytes are not the file's. Use a client that does not send Accept-Encoding.");
        }

        _body = await response.Content.ReadAsStreamAsync(token).ConfigureAwait(false);
        _bodyPos = response.StatusCode == HttpStatusCode.OK ? 0 : from;
        await SkipAsync(from, token).ConfigureAwait(false);
    }

    /// <summary>Discards a 200 body's bytes before <paramref name="to"/> (only when a server stops honouring Range mid-way; bounded by MaxHeaderBytes).</summary>
    private async Task SkipAsync(long to, CancellationToken token)
    {
        if (_bodyPos >= to)
        {
            return;
        }

        var scratch = new byte[(int)Math.Min(to - _bodyPos, 64 * 1024)];
        while (_bodyPos < to)
        {
            var read = await _body!.ReadAsync(scratch.AsMemory(0, (int)Math.Min(scratch.Length, to - _bodyPos)), token).ConfigureAwait(false);
            if (read == 0)
            {
                throw Remote($"the connection closed at byte {_bodyPos}, before the {_bodyEnd} bytes the server announced.");
            }

            _bodyPos += read;
            _progress.Add(read);
        }
    }

    private void SetTotal(long length)
    {
        if (length < 0)
        {
            throw Remote($"the server announced a length of {length} bytes.");
        }

        if (_total >= 0 && _total != length)
        {
            throw Remote($"the file changed on the server while its header was read (its length was {_total} bytes, now {length}).");
        }

        _total = length;
    }

    /// <summary>Grows the buffer to exactly <paramref name="length"/> bytes (at most MaxHeaderBytes and the file's length).</summary>
    private void Reserve(long length)
    {
        if (_buffer.Length >= length)
        {
            return;
        }

        var bigger = new byte[length];
        _buffer.AsSpan(0, (int)_have).CopyTo(bigger);
        _buffer = bigger;
    }

    private GgufException StatusError(HttpResponseMessage response)
    {
        var status = $"{(int)response.StatusCode} {response.ReasonPhrase}".TrimEnd();
        var error = response.StatusCode switch
        {
            HttpStatusCode.NotFound or HttpStatusCode.Gone =>
                new GgufException(GgufErrorKind.FileNotFound, $"{_location}: the server answered {status}: no such file. Check the URL.", _location),
            HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden =>
                Remote($"the server answered {status}: the file needs authorization. Pass an HttpClient that sends credentials in GgufRemoteOptions.HttpClient."),
            _ => Remote($"the server answered {status}."),
        };
        return new GgufException(error.Kind, error.Message, error.Path, error.Offset, error.InnerException, error.Subject) { HttpStatus = (int)response.StatusCode };
    }

    private GgufException Remote(string what, Exception? inner = null) =>
        new(GgufErrorKind.RemoteError, $"{_location}: {what}", _location, inner: inner);

    /// <summary>Parser errors name the URL; a web page where a file was expected gets a hint.</summary>
    private GgufException Explain(GgufException e)
    {
        if (e.Kind == GgufErrorKind.InvalidMagic && _html)
        {
            return new GgufException(e.Kind,
                $"{_location}: {e.Message} The server sent a web page (text/html): for Hugging Face, use the .../resolve/... link, not .../blob/....",
                _location, e.Offset, e, e.Subject);
        }

        return e.WithPath(_location);
    }

    private void CloseBody()
    {
        // Disposing a response whose body is unread aborts its connection: the rest is never sent.
        _body?.Dispose();
        _response?.Dispose();
        _body = null;
        _response = null;
    }

    public void Dispose() => CloseBody();

    private static HttpClient CreateSharedClient()
    {
        var handler = new SocketsHttpHandler
        {
            AutomaticDecompression = DecompressionMethods.None, // ranges must be raw file bytes
            PooledConnectionLifetime = TimeSpan.FromMinutes(5), // a process-long client still sees DNS changes
        };

        // GgufRemoteOptions.Timeout applies per request instead of the client's.
        var client = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        client.DefaultRequestHeaders.UserAgent.ParseAdd(UserAgent);
        return client;
    }
}
