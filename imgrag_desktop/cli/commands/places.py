"""`imgrag places` and `imgrag timeline`: the library by place and by time."""

from __future__ import annotations

import argparse
import calendar

from imgrag_desktop.cli.context import Context, add_filter_arguments, filter_from_args


def places_args(p: argparse.ArgumentParser) -> None:
    add_filter_arguments(p)


def cmd_places(ctx: Context) -> int:
    from imgrag_desktop.search.atlas import places

    rows = places(ctx.services.store, filter_from_args(ctx.args))

    def human() -> str:
        if not rows:
            return "no photos with a GPS position"
        lines, country = [], None
        for r in rows:
            if r["country"] != country:
                country = r["country"]
                total = sum(x["count"] for x in rows if x["country"] == country)
                lines.append(f"{country or '(no town within 25 km: at sea, or null island)'}  {total}")
            if r["city"]:
                lines.append(f"  {r['city']:<32} {r['count']:>6}   {r['cover']}")
        return "\n".join(lines)

    ctx.out(rows, human)
    return 0


def cmd_timeline(ctx: Context) -> int:
    from imgrag_desktop.search.atlas import timeline

    years = timeline(ctx.services.store, filter_from_args(ctx.args))

    def human() -> str:
        if not years:
            return "nothing indexed"
        lines = []
        for y in years:
            lines.append(f"{y['year']}  {y['count']}")
            lines += [f"  {calendar.month_abbr[m['month']]:<4} {m['count']:>6}" for m in y["months"]]
        return "\n".join(lines)

    ctx.out(years, human)
    return 0
