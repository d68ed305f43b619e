using QuantPS.Inference.Generation;
using Xunit;

namespace QuantPS.Tests.Engine;

public sealed class StopStringFilterTests
{
    [Fact]
    public void A_stop_string_split_over_pieces_is_held_back_then_cut()
    {
        var filter = new StopStringFilter(["Lily", "</end>"]);
        Assert.Equal("a girl named ", filter.Append("a girl named "));
        Assert.Equal("", filter.Append("Li")); // could be the start of "Lily"
        Assert.Equal("", filter.Append("l"));
        Assert.Equal("", filter.Append("y. She"));
        Assert.True(filter.Stopped);
        Assert.Equal("a girl named ", filter.Text);
    }

    [Fact]
    public void Held_text_is_released_when_it_turns_out_not_to_be_a_stop()
    {
        var filter = new StopStringFilter(["Lily"]);
        Assert.Equal("named ", filter.Append("named Li"));
        Assert.Equal("Lion", filter.Append("on"));
        Assert.Equal(" ", filter.Append(" L"));
        Assert.Equal("L", filter.Flush());
        Assert.False(filter.Stopped);
        Assert.Equal("named Lion L", filter.Text);
    }

    [Fact]
    public void The_earliest_of_several_stops_wins_and_text_without_stops_passes_through()
    {
        var filter = new StopStringFilter(["cd", "bc"]);
        filter.Append("ab");
        filter.Append("cde");
        Assert.Equal("a", filter.Text);

        var plain = new StopStringFilter([]);
        Assert.Equal("abc", plain.Append("abc"));
        Assert.Equal("", plain.Flush());
    }
}
