"""GeoReport v2's read-only documents, from the spec's text: service discovery, the service list
and a service's definition, in XML and JSON, with the spec's errors."""

from __future__ import annotations

from bot.open311 import keys
from tests.open311.conftest import Client, error_of, text

SERVICE_FIELDS = {
    "service_code",
    "service_name",
    "description",
    "metadata",
    "type",
    "keywords",
    "group",
}


async def test_discovery_names_the_v2_endpoint_and_both_formats(client: Client) -> None:
    status, body = await client.get("discovery")
    assert status == 200
    assert {"changeset", "contact", "key_service", "endpoints"} <= set(body)
    (endpoint,) = body["endpoints"]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"].endswith("/open311/v2")
    assert endpoint["type"] in ("production", "test")
    assert set(endpoint["formats"]) == {"text/xml", "application/json"}
    assert endpoint["changeset"]


async def test_services_one_per_category_in_chinese_by_default(client: Client) -> None:
    status, services = await client.get("services")
    assert status == 200
    assert len(services) == 10  # the example directory's categories
    for service in services:
        assert set(service) == SERVICE_FIELDS
        assert text(service["metadata"]) == "true"  # every one has the community attribute
        assert service["type"] == "realtime"
    parcels = next(s for s in services if s["service_code"] == "parcels")
    assert parcels["service_name"] == "快递堆放占道"
    assert "快递" in parcels["keywords"].split(", ")
    assert parcels["group"]


async def test_service_names_follow_locale_then_accept_language(client: Client) -> None:
    _, services = await client.get("services", locale="en")
    names = {s["service_code"]: s["service_name"] for s in services}
    assert names["parcels"] == "Parcels blocking the way"
    response = await client.http.get(
        client.url("services"), headers={"Accept-Language": "en-US,en;q=0.9,zh;q=0.5"}
    )
    english = client.read(response)
    assert next(s for s in english if s["service_code"] == "water-leak")["service_name"] == (
        "Water leak"
    )
    response = await client.http.get(
        client.url("services"), headers={"Accept-Language": "fr, zh-CN;q=0.8, en;q=0.7"}
    )
    assert client.read(response)[0]["service_name"] == "快递堆放占道"


async def test_services_of_an_unknown_jurisdiction_is_404(client: Client) -> None:
    status, body = await client.get("services", jurisdiction_id="sfgov.org")
    assert status == 404
    code, description = error_of(body)
    assert code == "404"
    assert "jurisdiction_id" in description


async def test_a_key_limited_to_a_community_may_not_ask_for_another(client: Client) -> None:
    limited = await keys.create_key(client.ctx, name="bgy-app", communities=["bgy-north"])
    status, body = await client.get("services", jurisdiction_id="jzsj-south", api_key=limited)
    assert status == 403
    assert error_of(body)[0] == "403"
    status, _ = await client.get("services", jurisdiction_id="bgy-north", api_key=limited)
    assert status == 200
    status, body = await client.get("services", api_key="not-a-key")
    assert status == 403
    assert error_of(body)[0] == "403"


async def test_definition_lists_communities_and_buildings(client: Client) -> None:
    status, definition = await client.get("services/parcels")
    assert status == 200
    assert definition["service_code"] == "parcels"
    by_code = {a["code"]: a for a in definition["attributes"]}
    community = by_code["community"]
    assert community["datatype"] == "singlevaluelist"
    assert text(community["variable"]) == "true"
    assert text(community["required"]) == "true"  # several communities: say which
    assert text(community["order"]) == "1"
    assert community["description"]
    keys_ = {text(v["key"]) for v in community["values"]}
    assert {"jzsj-south", "bgy-north", "lingfeng"} <= keys_
    assert all(v["name"] for v in community["values"])
    building = by_code["building"]
    assert building["datatype"] == "singlevaluelist"
    assert {"172", "173", "72", "5", "6"} <= {text(v["key"]) for v in building["values"]}
    assert len({text(a["order"]) for a in definition["attributes"]}) == 2  # orders differ


async def test_definition_within_a_jurisdiction(client: Client) -> None:
    _, definition = await client.get("services/parcels", jurisdiction_id="jzsj-south")
    by_code = {a["code"]: a for a in definition["attributes"]}
    assert [text(v["key"]) for v in by_code["community"]["values"]] == ["jzsj-south"]
    assert text(by_code["community"]["required"]) == "false"
    assert [text(v["key"]) for v in by_code["building"]["values"]] == ["172", "173"]
    _, plain = await client.get("services/parcels", jurisdiction_id="lingfeng")
    assert [a["code"] for a in plain["attributes"]] == ["community"]  # it lists no buildings


async def test_definition_of_an_unknown_service_is_404(client: Client) -> None:
    status, body = await client.get("services/potholes")
    assert status == 404
    code, description = error_of(body)
    assert code == "404"
    assert "potholes" in description


async def test_unknown_formats_and_resources_are_404(client: Client) -> None:
    for path in ("services.html", "discovery.yaml", "requests.csv", "services/parcels.txt"):
        response = await client.http.get(f"/open311/v2/{path}")
        assert response.status_code == 404, path
        assert error_of(response.json())[0] == "404"
    status, body = await client.get("tokens/123")
    assert status == 404
    assert error_of(body)[0] == "404"
