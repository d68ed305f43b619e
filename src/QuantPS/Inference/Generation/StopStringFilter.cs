using System.Text;

namespace QuantPS.Inference.Generation;

/// <summary>
/// Accumulates generated text and decides what may be shown: text that could still be the start of a stop string
/// is held back until it is known not to be one; when a stop string appears, the text ends just before it.
/// </summary>
internal sealed class StopStringFilter
{
    private readonly string[] _stops;
    private readonly int _maxStopLength;
    private readonly StringBuilder _text = new();
    private int _released;

    public StopStringFilter(IReadOnlyList<string> stops)
    {
        _stops = stops.Where(s => !string.IsNullOrEmpty(s)).ToArray();
        _maxStopLength = _stops.Length == 0 ? 0 : _stops.Max(s => s.Length);
    }

    /// <summary>The text so far (cut before the stop string once one is found).</summary>
    public string Text => _text.ToString();

    public bool Stopped { get; private set; }

    /// <summary>Adds <paramref name="piece"/>; returns the newly releasable text (possibly empty).</summary>
    public string Append(string piece)
    {
        if (Stopped)
        {
            return string.Empty;
        }

        var searchFrom = Math.Max(0, _text.Length - _maxStopLength + 1);
        _text.Append(piece);
        if (_stops.Length == 0)
        {
            return Release(_text.Length);
        }

        // Only the tail can hold a new match: the text before it was searched when it arrived.
        var tail = _text.ToString(searchFrom, _text.Length - searchFrom);
        var cut = -1;
        foreach (var stop in _stops)
        {
            var at = tail.IndexOf(stop, StringComparison.Ordinal);
            if (at >= 0 && (cut < 0 || at < cut))
            {
                cut = at;
            }
        }

        if (cut >= 0)
        {
            Stopped = true;
            _text.Length = searchFrom + cut;
            return Release(_text.Length);
        }

        return Release(_text.Length - HeldBack(tail));
    }

    /// <summary>Releases whatever is still held back (generation ended without a stop string).</summary>
    public string Flush() => Release(_text.Length);

    // The longest suffix of the text that is a proper prefix of some stop string.
    private int HeldBack(string text)
    {
        var held = 0;
        foreach (var stop in _stops)
        {
            for (var n = Math.Min(stop.Length - 1, text.Length); n > held; n--)
            {
                if (string.CompareOrdinal(text, text.Length - n, stop, 0, n) == 0)
                {
                    held = n;
                    break;
                }
            }
        }

        return held;
    }

    private string Release(int upTo)
    {
        upTo = Math.Max(upTo, _released);
        var released = _text.ToString(_released, upTo - _released);
        _released = upTo;
        return released;
    }
}
