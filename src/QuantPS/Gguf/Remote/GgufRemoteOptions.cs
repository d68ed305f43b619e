namespace QuantPS.Gguf;

/// <summary>
/// How <see cref="GgufModel.OpenRemote"/> reads a header over HTTP(S). Properties have setters
/// (not init) so PowerShell can build one from a hashtable; values are checked when set.
/// </summary>
public sealed class GgufRemoteOptions
{
    public const int DefaultInitialRangeBytes = 1 << 20;
    public const long DefaultMaxHeaderBytes = 128L << 20;

    private int _initialRangeBytes = DefaultInitialRangeBytes;
    private long _maxHeaderBytes = DefaultMaxHeaderBytes;
    private TimeSpan _timeout = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The client to send requests with (proxies, credentials, custom handlers). When null a
    /// shared client is used that never decompresses, so byte ranges stay raw file bytes.
    /// </summary>
    public HttpClient? HttpClient { get; set; }

    /// <summary>Bytes asked for by the first request; most headers fit in the default 1 MiB.</summary>
    public int InitialRangeBytes
    {
        get => _initialRangeBytes;
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            _initialRangeBytes = value;
        }
    }

    /// <summary>
    /// The largest header accepted, and so the largest buffer ever allocated for one; a file
    /// whose header is longer is refused with <see cref="GgufErrorKind.HeaderTooLarge"/>.
    /// </summary>
    public long MaxHeaderBytes
    {
        get => _maxHeaderBytes;
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, Array.MaxLength); // one byte[] holds it
            _maxHeaderBytes = value;
        }
    }

    /// <summary>
    /// Time allowed for each round of fetching (normally one HTTP request, from sending it to
    /// its last byte read); <see cref="System.Threading.Timeout.InfiniteTimeSpan"/> for none.
    /// </summary>
    public TimeSpan Timeout
    {
        get => _timeout;
        set
        {
            // int.MaxValue ms (24 days) keeps CancellationTokenSource.CancelAfter in range.
            if ((value <= TimeSpan.Zero || value.TotalMilliseconds > int.MaxValue) && value != System.Threading.Timeout.InfiniteTimeSpan)
            {
                throw new ArgumentOutOfRangeException(nameof(value), value, "The timeout must be positive and at most 24 days, or Timeout.InfiniteTimeSpan.");
            }

            _timeout = value;
        }
    }

    /// <summary>Receives the total bytes downloaded so far, over all requests and shards.</summary>
    public IProgress<long>? BytesRead { get; set; }

    /// <summary>Strict (refuse on the first error) or lenient (collect findings), as for local files.</summary>
    public GgufParseMode Mode { get; set; } = GgufParseMode.Strict;
}
