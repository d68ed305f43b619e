namespace QuantPS.Inference.Engine;

// Context shifting: room for more tokens in a full context by forgetting a span of old ones, as llama.cpp's
// llama_memory_seq_rm + llama_memory_seq_add do (llama-completion and llama-server with --context-shift).
public sealed unsafe partial class InferenceContext
{
    /// <summary>The KV cache (tests read its rows).</summary>
    internal KvCache Cache => _cache;

    /// <summary>Whether <see cref="Shift"/> can move positions (no sliding-window layer keeps a ring; see ContextOptions.FullSlidingWindowCache).</summary>
    public bool CanShift => _cache.CanMove;

    /// <summary>
    /// Forgets positions [<paramref name="keep"/>, keep + <paramref name="discard"/>) and moves every later one down by
    /// <paramref name="discard"/>: its value row as it is, its key row rotated by RoPE at position -discard (each
    /// layer's own RoPE) in floats and stored back in the cache type, as llama.cpp's K shift does. The next token then
    /// goes to <see cref="Position"/> - discard. Like llama.cpp's, the shift's rotation carries the RoPE magnitude
    /// factor (YaRN's mscale, longrope's attention factor) once more, so on such models a shifted key is that factor
    /// larger than one computed at its new position.
    /// </summary>
    /// <exception cref="LlmException">Sliding-window layers keep a ring here (create the context with FullSlidingWindowCache).</exception>
    public void Shift(int keep, int discard)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(keep);
        ArgumentOutOfRangeException.ThrowIfLessThan(discard, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(keep + discard, Position);
        if (!CanShift)
        {
            throw new LlmException(LlmErrorKind.InvalidOption,
                "This context keeps its sliding-window layers' last positions in a ring, so they cannot move; " +
                "create it with FullSlidingWindowCache (llama.cpp's --swa-full) to shift it.", "ContextShift");
        }

        var key = _k; // batch x KV width floats, free between forward passes
        _rope.Prepare(-discard);
        _slidingRope.Prepare(-discard); // often the same object: then the same table again
        for (var layer = 0; layer < _config.LayerCount; layer++)
        {
            var rope = _config.IsSlidingWindowLayer(layer) ? _slidingRope : _rope;
            // Upward, so a cell is read before the move that overwrites it (destinations lie discard below sources).
            for (var from = keep + discard; from < Position; from++)
            {
                _cache.ReadKey(layer, from, key);
                if (_keyRotation != 0)
                {
                    Hadamard.Rotate(key, _cache.RowValues, _keyRotation); // out of the cache's rotation, as llama.cpp's shift
                }

                rope.Apply(key, _config.KvHeadCount, _config.HeadDimension);
                if (_keyRotation != 0)
                {
                    Hadamard.Rotate(key, _cache.RowValues, _keyRotation);
                }

                _cache.Write(key, _cache.Key(layer, from - discard), _cache.RowValues);
                _cache.MoveValue(layer, from, from - discard);
            }
        }

        Position -= discard;
        _cache.Rewind(Position);
    }
}
