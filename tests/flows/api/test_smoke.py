from typing import Any


def test_alice_sees_her_flow_graph(api: dict[str, Any], demo: Any) -> None:
    response = api["alice"].get(f"/api/flows/{demo.flow.id}/graph")
    assert response.status_code == 200, response.content
    graph = response.json()
    assert [p["name"] for p in graph["processors"]] == ["proc1", "proc2"]
    assert graph["plugs"][0]["source"] == str(demo.s1.id)
