namespace QuantPS.Gguf;

public sealed partial class GgufModel
{
    /// <summary>
    /// Reads the header of a GGUF file over HTTP(S) with Range requests, without downloading
    /// its tensor data. When it is one shard of a split model (name-00001-of-00003.gguf with
    /// split.* keys), every shard's header is read and the model comes back whole. The shards
    /// have no <see cref="GgufShard.File"/>: metadata and the tensor table only.
    /// </summary>
    /// <exception cref="GgufException">Bad URL (InvalidArgument), 404 (FileNotFound), other HTTP
    /// failures and timeouts (RemoteError), a header over MaxHeaderBytes (HeaderTooLarge), or
    /// malformed content (the same kinds as for local files).</exception>
    public static GgufModel OpenRemote(Uri uri, GgufRemoteOptions? options = null, CancellationToken cancellationToken = default)
    {
        CheckRemoteUri(uri);

        // On a pool thread: works with any HttpMessageHandler (not all implement sync Send)
        // and cannot deadlock on a host's synchronization context.
        return Task.Run(() => OpenRemoteAsync(uri, options, cancellationToken), CancellationToken.None).GetAwaiter().GetResult();
    }

    /// <inheritdoc cref="OpenRemote"/>
    public static async Task<GgufModel> OpenRemoteAsync(Uri uri, GgufRemoteOptions? options = null, CancellationToken cancellationToken = default)
    {
        CheckRemoteUri(uri);
        options ??= new GgufRemoteOptions();
        var progress = new GgufRemoteProgress(options.BytesRead);
        var location = GgufRemoteReader.Describe(uri);
        var first = await GgufRemoteReader.ReadHeaderAsync(uri, location, options, progress, cancellationToken).ConfigureAwait(false);
        var declared = GgufSplit.DeclaredCount(first);
        if (declared <= 1)
        {
            return new GgufModel([new GgufShard(location, first, null)], first.Tensors);
        }

        return await OpenRemoteSplitAsync(uri, location, first, declared, options, progress, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<GgufModel> OpenRemoteSplitAsync(
        Uri uri, string location, GgufHeader opened, int declared, GgufRemoteOptions options, GgufRemoteProgress progress, CancellationToken cancellationToken)
    {
        // Same rule as local files: the shard names are the only way to find the others.
        if (!GgufSplit.TryParseShardName(uri.AbsolutePath, out var prefix, out var number, out var count) || count != declared)
        {
            throw new GgufException(GgufErrorKind.SplitIncomplete,
                $"{location} is shard {opened.Metadata.GetInteger(GgufSplit.NoKey) + 1} of a {declared}-file split model, but its name does not follow <name>-0000N-of-{declared:D5}.gguf, so the other shards cannot be found.",
                location);
        }

        var headers = new GgufHeader[count];
        var locations = new string[count];
        headers[number - 1] = opened;
        locations[number - 1] = location;
        for (var i = 1; i <= count; i++)
        {
            if (i == number)
            {
                continue;
            }

            // Same server, folder and query string (signed URLs, ?download=true); only the name changes.
            var shardUri = new Uri(uri.GetLeftPart(UriPartial.Authority) + GgufSplit.ShardName(prefix, i, count) + uri.Query);
            locations[i - 1] = GgufRemoteReader.Describe(shardUri);
            try
            {
                headers[i - 1] = await GgufRemoteReader.ReadHeaderAsync(shardUri, locations[i - 1], options, progress, cancellationToken).ConfigureAwait(false);
            }
            catch (GgufException e) when (e.Kind == GgufErrorKind.FileNotFound)
            {
                throw new GgufException(GgufErrorKind.SplitIncomplete,
                    $"Shard {i} of {count} is missing: {locations[i - 1]} (the server answered 404). A split model needs all its files beside each other.",
                    locations[i - 1], inner: e);
            }
        }

        var tensors = GgufSplit.Merge(headers, locations);
        return new GgufModel(headers.Select((h, i) => new GgufShard(locations[i], h, null)).ToArray(), tensors);
    }

    private static void CheckRemoteUri(Uri uri)
    {
        ArgumentNullException.ThrowIfNull(uri);
        if (!uri.IsAbsoluteUri || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            throw new GgufException(GgufErrorKind.InvalidArgument,
                $"'{uri.OriginalString}' is not an http:// or https:// URL; only those can be read remotely. Open local files with GgufModel.Open.",
                uri.OriginalString);
        }
    }
}
